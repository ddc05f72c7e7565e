/*
 * backup.c - `ember backup` and `ember restore`: a copy of a live database
 * and putting one back, with progress for the person waiting. The copying
 * itself is the store's (ember_store_backup, ember_store_restore).
 *
 * Both take --data from EMBER_DATA too, as `ember serve` does, so that in a
 * container configured by the environment `ember backup -o FILE` finds the
 * server's directory by itself.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ember/common.h"
#include "ember/store.h"

static const char backup_usage[] =
    "Usage: ember backup --data DIR -o FILE [--max-rate SIZE]\n"
    "\n"
    "Copies the database of a data directory into FILE while the server runs\n"
    "and keeps ingesting: one consistent snapshot (what was committed when the\n"
    "copy began), through SQLite's online backup API. The server's writes never\n"
    "wait for it and its lock on the directory is left alone. FILE is a whole\n"
    "database, replaced whole or not at all; `ember restore` puts it back.\n"
    "\n"
    "Options:\n"
    "  --data DIR           the server's data directory (required; also read\n"
    "                       from EMBER_STORE or EMBER_DATA); a PostgreSQL\n"
    "                       store is backed up with pg_dump, not here\n"
    "  -o, --output FILE    where to write the copy (required)\n"
    "  --max-rate SIZE      read at most SIZE per second, e.g. 50MiB, leaving\n"
    "                       the disk to the server (default: as fast as it goes)\n"
    "  -h, --help           show this help\n"
    "\n"
    "Example:\n"
    "  ember backup --data /var/lib/ember -o /backups/ember-$(date +%F).db\n"
    EMBER_CLI_EXIT_CODES;

static const char restore_usage[] =
    "Usage: ember restore --data DIR [--force] FILE\n"
    "\n"
    "Makes FILE, a backup written by `ember backup`, the database of DIR.\n"
    "Stop the server first: restore refuses while a server runs on DIR, and\n"
    "no server can start on DIR until it is done. It reads FILE whole and\n"
    "checks that it is an undamaged Ember database this ember can open,\n"
    "copies it into DIR beside the old files, removes the old database's WAL\n"
    "and shared-memory files and renames the copy into place. Then start the\n"
    "server on DIR.\n"
    "\n"
    "Options:\n"
    "  --data DIR           the data directory to restore into, created if\n"
    "                       missing (required; also read from EMBER_STORE or\n"
    "                       EMBER_DATA); a PostgreSQL store is restored with\n"
    "                       pg_restore, not here\n"
    "  --force              replace the database DIR holds; its data is lost\n"
    "                       (without it, a DIR with a database is refused)\n"
    "  -h, --help           show this help\n"
    EMBER_CLI_EXIT_CODES;

/* ---- Progress ---------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
  stop_signal = sig;
}

/* SIGINT and SIGTERM stop the copy at its next step, which then removes
 * its temporary file: an interrupted backup leaves nothing behind. */
static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

typedef struct {
  const char *cmd;
  bool tty;       /* stderr is a terminal: one line, redrawn */
  uint64_t start; /* ember_mono_ns */
  uint64_t shown; /* when progress was last printed */
  bool drawn;     /* a terminal line waits for its newline */
} progress_t;

/* bytes in MiB with one decimal, or in KiB below a MiB. */
static void human(uint64_t bytes, char *out, size_t size) {
  if (bytes < (1u << 20))
    snprintf(out, size, "%.1f KiB", (double)bytes / 1024.0);
  else
    snprintf(out, size, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

/* On a terminal, a line redrawn five times a second; elsewhere (a log, a
 * cron mail) a line every ten seconds, so a long copy shows it is alive
 * without flooding. A short copy prints only its summary. */
static bool show_progress(void *ctx, uint64_t done, uint64_t total) {
  progress_t *p = ctx;
  uint64_t now = ember_mono_ns();
  uint64_t every = p->tty ? 200000000u : 10000000000u;
  if (now - p->shown >= every && now - p->start >= every && done < total) {
    char d[32], t[32];
    human(done, d, sizeof d);
    human(total, t, sizeof t);
    fprintf(stderr, "%sember %s: %3.0f%% (%s of %s, %.0f s)%s", p->tty ? "\r" : "",
            p->cmd, total ? 100.0 * (double)done / (double)total : 100.0, d, t,
            (double)(now - p->start) / 1e9, p->tty ? "\033[K" : "\n");
    p->shown = now;
    p->drawn = p->tty;
  }
  return stop_signal == 0;
}

/* Ends a redrawn progress line, so what follows starts on its own. */
static void end_progress(progress_t *p) {
  if (p->drawn) fputs("\r\033[K", stderr);
  p->drawn = false;
}

/* "ember CMD: VERB SIZE (... ) WHERE in T s[; TAIL]" */
static void summary(progress_t *p, const char *verb, const char *where, const char *tail,
                    const ember_store_copy_info_t *info) {
  char size[32];
  human(info->bytes, size, sizeof size);
  fprintf(
      stderr,
      "ember %s: %s %s (%llu bytes, %llu app%s, schema version %d) %s in %.1f s%s%s\n",
      p->cmd, verb, size, (unsigned long long)info->bytes, (unsigned long long)info->apps,
      info->apps == 1 ? "" : "s", info->schema_version, where,
      (double)(ember_mono_ns() - p->start) / 1e9, tail ? "; " : "", tail ? tail : "");
}

/* ---- Options ----------------------------------------------------------- */

enum { OPT_DATA = 256, OPT_MAX_RATE, OPT_FORCE };

/* --data (or --store), or EMBER_STORE, or EMBER_DATA when the command
 * line has none (empty is unset), as ember serve reads them. */
static const char *data_dir_or_env(const char *given) {
  if (given) return given;
  const char *store = getenv("EMBER_STORE");
  if (store && *store) return store;
  const char *env = getenv("EMBER_DATA");
  return env && *env ? env : NULL;
}

/* A PostgreSQL store is backed up and restored by PostgreSQL's own tools:
 * one line saying so (the URL is not repeated: it may hold a password). */
static int refuse_pg(const char *cmd, const char *where) {
  if (strncmp(where, "postgres://", 11) != 0 && strncmp(where, "postgresql://", 13) != 0)
    return 0;
  fprintf(stderr,
          "ember %s: the store is a PostgreSQL database, which ember %s does not copy; "
          "use %s (or base backups with WAL archiving), see docs/operations.md, "
          "\"Scaling out with PostgreSQL\"\n",
          cmd, cmd, strcmp(cmd, "backup") == 0 ? "pg_dump -Fc" : "pg_restore");
  return 2;
}

static int missing_data(const char *cmd) {
  fprintf(stderr,
          "ember %s: missing --data; name the server's data directory, e.g. --data "
          "/var/lib/ember (or set EMBER_DATA)\n",
          cmd);
  return 2;
}

int ember_cli_backup(int argc, char **argv) {
  static const struct option opts[] = {
      {"data", required_argument, NULL, OPT_DATA},
      {"store", required_argument, NULL, OPT_DATA},
      {"output", required_argument, NULL, 'o'},
      {"max-rate", required_argument, NULL, OPT_MAX_RATE},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *data = NULL, *output = NULL;
  ember_store_copy_opts_t copy = {0};
  size_t rate = 0;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
    switch (c) {
    case OPT_DATA: data = optarg; break;
    case 'o': output = optarg; break;
    case OPT_MAX_RATE:
      if (ember_cli_parse_size(optarg, &rate))
        return ember_cli_fail("backup", "bad --max-rate", optarg,
                              "use bytes per second, e.g. 50MiB or 200MiB");
      copy.max_rate = rate;
      break;
    case 'h': fputs(backup_usage, stdout); return 0;
    case ':':
      return ember_cli_fail("backup", "missing value for", argv[optind - 1],
                            "run `ember backup --help`");
    default:
      return ember_cli_fail("backup", "unknown option", argv[optind - 1],
                            "run `ember backup --help`");
    }
  }
  if (optind < argc)
    return ember_cli_fail("backup", "unexpected argument", argv[optind],
                          "run `ember backup --help`");
  if (!(data = data_dir_or_env(data))) return missing_data("backup");
  if (refuse_pg("backup", data)) return 2;
  if (!output || !*output) {
    fputs("ember backup: missing -o FILE; name the file to write, e.g. -o "
          "ember-backup.db\n",
          stderr);
    return 2;
  }
  catch_signals();
  progress_t p = {.cmd = "backup", .tty = isatty(2), .start = ember_mono_ns()};
  copy.progress = show_progress;
  copy.ctx = &p;
  ember_store_copy_info_t info;
  ember_err_t err;
  int rc = ember_store_backup(data, output, &copy, &info, &err);
  end_progress(&p);
  if (rc != 0) {
    fprintf(stderr, "ember backup: %s\n", err.msg);
    return 1;
  }
  char where[4200];
  snprintf(where, sizeof where, "to %s", output);
  summary(&p, "wrote", where, NULL, &info);
  return 0;
}

int ember_cli_restore(int argc, char **argv) {
  static const struct option opts[] = {{"data", required_argument, NULL, OPT_DATA},
                                       {"store", required_argument, NULL, OPT_DATA},
                                       {"force", no_argument, NULL, OPT_FORCE},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *data = NULL;
  bool force = false;
  int c;
  opterr = 0;
  while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
    switch (c) {
    case OPT_DATA: data = optarg; break;
    case OPT_FORCE: force = true; break;
    case 'h': fputs(restore_usage, stdout); return 0;
    case ':':
      return ember_cli_fail("restore", "missing value for", argv[optind - 1],
                            "run `ember restore --help`");
    default:
      return ember_cli_fail("restore", "unknown option", argv[optind - 1],
                            "run `ember restore --help`");
    }
  }
  if (!(data = data_dir_or_env(data))) return missing_data("restore");
  if (refuse_pg("restore", data)) return 2;
  if (optind == argc) {
    fputs("ember restore: missing the backup FILE to restore, e.g. ember restore "
          "--data DIR ember-backup.db\n",
          stderr);
    return 2;
  }
  if (optind + 1 < argc)
    return ember_cli_fail("restore", "unexpected argument", argv[optind + 1],
                          "restore one FILE");
  const char *file = argv[optind];
  catch_signals();
  progress_t p = {.cmd = "restore", .tty = isatty(2), .start = ember_mono_ns()};
  ember_store_copy_opts_t copy = {.progress = show_progress, .ctx = &p};
  ember_store_copy_info_t info;
  ember_err_t err;
  int rc = ember_store_restore(data, file, force, &copy, &info, &err);
  end_progress(&p);
  if (rc != 0) {
    fprintf(stderr, "ember restore: %s\n", err.msg);
    return 1;
  }
  char where[8300], tail[4200];
  snprintf(where, sizeof where, "from %s into %s", file, data);
  snprintf(tail, sizeof tail, "start the server with --data %s", data);
  summary(&p, "restored", where, tail, &info);
  return 0;
}
