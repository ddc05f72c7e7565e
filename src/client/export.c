/*
 * export.c - `ember export`: one GET /render with the command line's
 * options as parameters, its body written to a file or standard output.
 *
 * A file is written whole or not at all (ember_client_write_file): an
 * export that fails halfway, or a server that answers an error, leaves
 * whatever was at the path before. That matters for scripts that export
 * on a schedule into the same file a dashboard or a colleague reads.
 */
#include "ember/client.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Private functions ------------------------------------------------- */

static int write_fd(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* Flushes the directory holding path, so the rename survives a crash. Best
 * effort: some file systems refuse to sync a directory. */
static void sync_dir(const char *path) {
  char *copy = ember_strdup(path);
  int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(copy);
}

/* Appends "&name=<encoded value>" when given (no '&' right after '?'). */
static void put_param(ember_buf_t *b, const char *name, const char *value) {
  if (!value) return;
  if (b->data[b->len - 1] != '?') ember_buf_putc(b, '&');
  ember_buf_puts(b, name);
  ember_buf_putc(b, '=');
  ember_client_urlencode(b, value);
}

/* ---- API --------------------------------------------------------------- */

int ember_client_write_file(const char *path, const void *data, size_t n,
                            ember_err_t *err) {
  ember_buf_t tmp = EMBER_BUF_INIT;
  int fd = -1, rc = EMBER_OK;
  /* O_EXCL on a name of our own: never write through someone else's file
   * or link. The mode is subject to the umask, as for any new file. */
  for (unsigned i = 0; fd < 0 && i < 100; i++) {
    ember_buf_reset(&tmp);
    ember_buf_printf(&tmp, "%s.tmp-%ld-%u", path, (long)getpid(), i);
    fd = open(tmp.data, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    rc = ember_err_set(err, EMBER_EIO, "cannot write '%.300s': %s", path, strerror(errno));
    goto done;
  }
  if (write_fd(fd, data, n) || fsync(fd)) {
    rc = ember_err_set(err, EMBER_EIO, "cannot write '%.300s': %s", path, strerror(errno));
    goto fail;
  }
  if (close(fd)) {
    fd = -1;
    rc = ember_err_set(err, EMBER_EIO, "cannot write '%.300s': %s", path, strerror(errno));
    goto fail;
  }
  fd = -1;
  if (rename(tmp.data, path)) {
    rc = ember_err_set(err, EMBER_EIO, "cannot write '%.300s': %s", path, strerror(errno));
    goto fail;
  }
  sync_dir(path);
  goto done;
fail:
  if (fd >= 0) close(fd);
  unlink(tmp.data);
done:
  ember_buf_free(&tmp);
  return rc;
}

int ember_client_export(const ember_export_opts_t *o, size_t *bytes, ember_err_t *err) {
  ember_client_url_t url;
  ember_client_resp_t resp;
  memset(&resp, 0, sizeof resp);
  ember_buf_t target = EMBER_BUF_INIT, msg = EMBER_BUF_INIT;
  const char *server = o->server ? o->server : EMBER_CLIENT_DEFAULT_SERVER;
  const char *output = o->output ? o->output : "-";
  int rc = ember_client_url_parse(server, &url, err);
  if (rc) goto done;
  if (!o->query || !*o->query) {
    rc = ember_err_set(err, EMBER_EINVAL, "missing query; e.g. --query 'app.cpu{}'");
    goto done;
  }
  ember_buf_puts(&target, "/render?");
  put_param(&target, "query", o->query);
  put_param(&target, "from", o->from ? o->from : "now-1h");
  put_param(&target, "until", o->until ? o->until : "now");
  put_param(&target, "format", o->format ? o->format : "json");
  put_param(&target, "maxNodes", o->max_nodes);
  rc = ember_client_get(&url, target.data, o->token,
                        o->timeout_ms > 0 ? o->timeout_ms : EMBER_CLIENT_DEFAULT_TIMEOUT_MS,
                        &resp, err);
  if (rc) goto done;
  if (resp.status != 200) {
    ember_client_error_message(&resp, &msg);
    rc = ember_err_set(err, resp.status >= 400 && resp.status < 500 ? EMBER_EINVAL : EMBER_EIO,
                       "the server answered %d: %s", resp.status, msg.data);
    goto done;
  }
  if (!strcmp(output, "-")) {
    if (write_fd(STDOUT_FILENO, resp.body.data, resp.body.len)) {
      rc = ember_err_set(err, EMBER_EIO, "cannot write to standard output: %s",
                         strerror(errno));
      goto done;
    }
  } else {
    rc = ember_client_write_file(output, resp.body.data, resp.body.len, err);
    if (rc) goto done;
  }
  *bytes = resp.body.len;
done:
  ember_client_resp_free(&resp);
  ember_buf_free(&target);
  ember_buf_free(&msg);
  return rc;
}
