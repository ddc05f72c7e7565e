/*
 * jobs.c - a fixed pool of worker threads with a bounded FIFO of jobs.
 *
 * The HTTP layer runs anything that may block (parsing a large body, a
 * query against SQLite) here, so the network threads never wait.
 */
#include <pthread.h>
#include <stdlib.h>

#include "http/http_int.h"

typedef struct {
  job_fn fn;
  void *arg;
} job_t;

struct jobs {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  job_t *ring; /* circular buffer of max_queued slots */
  size_t max_queued, head, count;
  bool stopping;
  pthread_t *threads;
  unsigned nthreads;
};

static void *worker(void *arg) {
  jobs_t *j = arg;
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (j->count == 0 && !j->stopping) pthread_cond_wait(&j->cv, &j->mu);
    if (j->count == 0) break; /* stopping and drained */
    job_t job = j->ring[j->head];
    j->head = (j->head + 1) % j->max_queued;
    j->count--;
    pthread_mutex_unlock(&j->mu);
    job.fn(job.arg);
    pthread_mutex_lock(&j->mu);
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

jobs_t *ember_jobs_start(unsigned nthreads, size_t max_queued) {
  jobs_t *j = ember_calloc(1, sizeof *j);
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  j->max_queued = max_queued ? max_queued : 1;
  j->ring = ember_calloc(j->max_queued, sizeof *j->ring);
  j->threads = ember_calloc(nthreads, sizeof *j->threads);
  for (unsigned i = 0; i < nthreads; i++) {
    if (pthread_create(&j->threads[i], NULL, worker, j) != 0) break;
    j->nthreads++;
  }
  if (j->nthreads == 0) abort(); /* no thread at all: nothing could run */
  return j;
}

int ember_jobs_submit(jobs_t *j, job_fn fn, void *arg) {
  pthread_mutex_lock(&j->mu);
  if (j->stopping || j->count == j->max_queued) {
    pthread_mutex_unlock(&j->mu);
    return EMBER_EBUSY;
  }
  j->ring[(j->head + j->count) % j->max_queued] = (job_t){fn, arg};
  j->count++;
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return EMBER_OK;
}

void ember_jobs_stop(jobs_t *j) {
  if (!j) return;
  pthread_mutex_lock(&j->mu);
  j->stopping = true;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  for (unsigned i = 0; i < j->nthreads; i++) pthread_join(j->threads[i], NULL);
  pthread_mutex_destroy(&j->mu);
  pthread_cond_destroy(&j->cv);
  free(j->ring);
  free(j->threads);
  free(j);
}
