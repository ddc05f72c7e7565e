/*
 * jobs.c - a fixed pool of worker threads with a bounded FIFO of jobs.
 *
 * The HTTP layer runs anything that may block (parsing a large body, a
 * query against SQLite) here, so the network threads never wait. Ingest
 * and queries get pools of their own, so a burst of slow queries cannot
 * hold up a push; the query pool's threads run at a lower priority.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "http/http_int.h"

typedef struct {
  job_fn fn;
  void *arg;
} job_t;

struct jobs {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job_t *ring; /* circular buffer of max_queued slots */
  size_t max_queued, head, count, running;
  bool stopping;
  job_fn cancel; /* set when stopping: what waiting jobs get instead */
  int nice;
  char name[16]; /* the threads' name */
  pthread_t *threads;
  unsigned nthreads;
};

static void *worker(void *arg) {
  jobs_t *j = arg;
  /* A name shows in top -H, perf and /proc, so a profile can tell the
   * pools apart. */
  pthread_setname_np(pthread_self(), j->name);
  /* Linux gives each thread its own nice value; lowering our own priority
   * needs no privilege. Failure only costs the preference. */
  if (j->nice) (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), j->nice);
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (j->count == 0 && !j->stopping)
      pthread_cond_wait(&j->cv, &j->mu);
    if (j->count == 0) break; /* stopping and drained */
    job_t job = j->ring[j->head];
    j->head = (j->head + 1) % j->max_queued;
    j->count--;
    job_fn run = j->stopping && j->cancel ? j->cancel : job.fn;
    j->running++;
    pthread_mutex_unlock(&j->mu);
    run(job.arg);
    pthread_mutex_lock(&j->mu);
    j->running--;
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

jobs_t *ember_jobs_start(const char *name, unsigned nthreads, size_t max_queued,
                         int nice) {
  jobs_t *j = ember_calloc(1, sizeof *j);
  snprintf(j->name, sizeof j->name, "%s", name);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->max_queued = max_queued ? max_queued : 1;
  j->nice = nice;
  j->ring = ember_calloc(j->max_queued, sizeof *j->ring);
  j->threads = ember_calloc(nthreads ? nthreads : 1, sizeof *j->threads);
  for (unsigned i = 0; i < nthreads; i++) {
    if (pthread_create(&j->threads[i], NULL, worker, j) != 0) break;
    j->nthreads++;
  }
  if (j->nthreads == 0) abort(); /* no thread at all: nothing could run */
  return j;
}

int ember_jobs_submit(jobs_t *j, job_fn fn, void *arg) {
  int rc = EMBER_OK;
  pthread_mutex_lock(&j->mu);
  if (j->stopping) {
    rc = EMBER_ESHUTDOWN;
  } else if (j->count == j->max_queued) {
    rc = EMBER_EBUSY;
  } else {
    j->ring[(j->head + j->count) % j->max_queued] = (job_t){fn, arg};
    j->count++;
    pthread_cond_signal(&j->cv);
  }
  pthread_mutex_unlock(&j->mu);
  return rc;
}

void ember_jobs_load(jobs_t *j, size_t *running, size_t *waiting) {
  pthread_mutex_lock(&j->mu);
  *running = j->running;
  *waiting = j->count;
  pthread_mutex_unlock(&j->mu);
}

void ember_jobs_stop(jobs_t *j, job_fn cancel) {
  if (!j) return;
  pthread_mutex_lock(&j->mu);
  j->stopping = true;
  j->cancel = cancel;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  for (unsigned i = 0; i < j->nthreads; i++)
    pthread_join(j->threads[i], NULL);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j->ring);
  free(j->threads);
  free(j);
}
