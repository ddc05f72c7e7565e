/*
 * ingest_load.c - how many pushes per second a running server commits.
 *
 *   build/bench/ingest_load HOST:PORT FOLDED_FILE [CONNECTIONS] [SECONDS]
 *
 * Opens CONNECTIONS keep-alive connections (default 8), each pushing the
 * file to /ingest in a loop, every push into its own series and 10 s bucket
 * (as many agents would), for SECONDS (default 10). Prints pushes/s,
 * samples/s and the latency distribution of a 200 (which the server only
 * sends after the commit, so this is the durable rate).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ember/common.h"

typedef struct {
  struct sockaddr_in addr;
  const char *body;
  size_t body_len;
  int id;
  uint64_t deadline_ns;
  uint64_t *lat_ns; /* one per push */
  size_t n, cap;
  int errors;
} conn_t;

static int read_response(int fd, char *buf, size_t cap) {
  size_t n = 0;
  char *end = NULL;
  while (!end) {
    ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
    if (k <= 0) return -1;
    n += (size_t)k;
    buf[n] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  const char *cl = strcasestr(buf, "Content-Length:");
  size_t want = cl ? strtoul(cl + 15, NULL, 10) : 0;
  size_t have = n - (size_t)(end + 4 - buf);
  while (have < want) {
    ssize_t k = recv(fd, buf, cap - 1, 0);
    if (k <= 0) return -1;
    have += (size_t)k;
  }
  return atoi(buf + 9);
}

static void *run(void *arg) {
  conn_t *c = arg;
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr)) {
    perror("connect");
    exit(1);
  }
  char head[512], resp[65536];
  for (long i = 0; ember_mono_ns() < c->deadline_ns; i++) {
    long from = 1700000000L + 10 * i;
    int hn = snprintf(head, sizeof head,
                      "POST /ingest?name=load.cpu%%7Bconn%%3D%d%%7D&from=%ld&until=%ld "
                      "HTTP/1.1\r\nHost: localhost\r\nContent-Length: %zu\r\n\r\n",
                      c->id, from, from + 10, c->body_len);
    uint64_t t0 = ember_mono_ns();
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        send(fd, c->body, c->body_len, MSG_NOSIGNAL) != (ssize_t)c->body_len) {
      c->errors++;
      break;
    }
    int status = read_response(fd, resp, sizeof resp);
    if (status != 200) {
      c->errors++;
      if (status < 0) break;
      continue;
    }
    ember_grow((void **)&c->lat_ns, &c->cap, c->n + 1, sizeof *c->lat_ns);
    c->lat_ns[c->n++] = ember_mono_ns() - t0;
  }
  close(fd);
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s HOST:PORT FOLDED_FILE [CONNECTIONS] [SECONDS]\n", argv[0]);
    return 2;
  }
  int nconn = argc > 3 ? atoi(argv[3]) : 8, secs = argc > 4 ? atoi(argv[4]) : 10;
  char host[64];
  const char *colon = strrchr(argv[1], ':');
  if (!colon || nconn < 1 || secs < 1 || (size_t)(colon - argv[1]) >= sizeof host) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  memcpy(host, argv[1], (size_t)(colon - argv[1]));
  host[colon - argv[1]] = '\0';
  FILE *f = fopen(argv[2], "rb");
  if (!f) {
    perror(argv[2]);
    return 1;
  }
  ember_buf_t body = EMBER_BUF_INIT;
  char chunk[65536];
  size_t k;
  while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) ember_buf_append(&body, chunk, k);
  fclose(f);
  uint64_t samples = 0;
  for (char *line = body.data; line && *line;) {
    char *nl = strchr(line, '\n');
    char *sp = NULL;
    for (char *p = line; p < (nl ? nl : line + strlen(line)); p++)
      if (*p == ' ') sp = p;
    if (sp) samples += strtoull(sp + 1, NULL, 10);
    line = nl ? nl + 1 : NULL;
  }

  conn_t *conns = ember_calloc((size_t)nconn, sizeof *conns);
  pthread_t *th = ember_calloc((size_t)nconn, sizeof *th);
  uint64_t start = ember_mono_ns();
  for (int i = 0; i < nconn; i++) {
    conns[i].addr.sin_family = AF_INET;
    conns[i].addr.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, host, &conns[i].addr.sin_addr);
    conns[i].body = body.data;
    conns[i].body_len = body.len;
    conns[i].id = i;
    conns[i].deadline_ns = start + (uint64_t)secs * 1000000000u;
    pthread_create(&th[i], NULL, run, &conns[i]);
  }
  size_t total = 0;
  int errors = 0;
  for (int i = 0; i < nconn; i++) {
    pthread_join(th[i], NULL);
    total += conns[i].n;
    errors += conns[i].errors;
  }
  double elapsed = (double)(ember_mono_ns() - start) / 1e9;
  uint64_t *all = ember_malloc((total ? total : 1) * sizeof *all);
  size_t j = 0;
  for (int i = 0; i < nconn; i++)
    for (size_t m = 0; m < conns[i].n; m++) all[j++] = conns[i].lat_ns[m];
  qsort(all, total, sizeof *all, cmp_u64);
  printf("%d connections, %.1f s: %zu pushes acknowledged (%d errors)\n", nconn, elapsed,
         total, errors);
  printf("rate: %.0f pushes/s, %.0f samples/s, %.1f MB/s of folded text\n",
         (double)total / elapsed, (double)(total * samples) / elapsed,
         (double)(total * body.len) / elapsed / 1e6);
  if (total)
    printf("latency of a 200: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n",
           (double)all[total / 2] / 1e6, (double)all[total * 9 / 10] / 1e6,
           (double)all[total * 99 / 100] / 1e6, (double)all[total - 1] / 1e6);
  for (int i = 0; i < nconn; i++) free(conns[i].lat_ns);
  free(all);
  free(conns);
  free(th);
  ember_buf_free(&body);
  return errors ? 1 : 0;
}
