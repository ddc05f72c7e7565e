/*
 * metrics.c - the server's own counters, exposed at /metrics in the
 * Prometheus text format. Counters are process-wide atomics: cheap to bump
 * from any thread, never locked.
 */
#include <stdatomic.h>

#include "http/http_int.h"

static const char *route_names[METRIC_ROUTE_COUNT] = {
    "/ingest",  "/render", "/render-diff", "/labels",  "/label-values", "/api/apps",
    "/api/explore", "/querier.v1.QuerierService", "/push.v1.PusherService", "/healthz",
    "/readyz", "/metrics", "ui", "other"};

static const int statuses[] = {200, 304, 400, 401, 403, 404, 405, 413,
                               415, 422, 429, 431, 500, 501, 503, 504};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                 0.25,  0.5,    1,     2.5,  5,     10};
#define NBUCKETS (sizeof buckets / sizeof buckets[0])

static atomic_ullong requests[METRIC_ROUTE_COUNT][NSTATUS + 1]; /* last: other */
static atomic_ullong latency[METRIC_ROUTE_COUNT][NBUCKETS + 1]; /* last: +Inf */
static atomic_ullong latency_sum_ns[METRIC_ROUTE_COUNT];
static atomic_ullong ingest_bytes, ingest_profiles, ingest_samples;
static atomic_ullong ingest_truncated;
static atomic_ullong jfr_unknown_contexts;
static atomic_ullong refused[METRIC_REFUSED_COUNT];
static const char *refused_names[METRIC_REFUSED_COUNT] = {"auth", "policy", "budget",
                                                          "queries", "timeout"};

void ember_metrics_refused(int reason) {
  if (reason >= 0 && reason < METRIC_REFUSED_COUNT) atomic_fetch_add(&refused[reason], 1);
}

void ember_metrics_request(int route, int status, uint64_t duration_ns) {
  if (route < 0 || route >= METRIC_ROUTE_COUNT) route = METRIC_ROUTE_OTHER;
  size_t s = 0;
  while (s < NSTATUS && statuses[s] != status)
    s++;
  atomic_fetch_add(&requests[route][s], 1);
  double secs = (double)duration_ns / 1e9;
  size_t b = 0;
  while (b < NBUCKETS && secs > buckets[b])
    b++;
  atomic_fetch_add(&latency[route][b], 1);
  atomic_fetch_add(&latency_sum_ns[route], duration_ns);
}

void ember_metrics_ingest(uint64_t bytes, uint64_t profiles, uint64_t samples) {
  atomic_fetch_add(&ingest_bytes, bytes);
  atomic_fetch_add(&ingest_profiles, profiles);
  atomic_fetch_add(&ingest_samples, samples);
}

void ember_metrics_stacks_truncated(uint64_t stacks) {
  atomic_fetch_add(&ingest_truncated, stacks);
}

void ember_metrics_jfr_unknown_contexts(uint64_t events) {
  if (events) atomic_fetch_add(&jfr_unknown_contexts, events);
}

static void header(ember_buf_t *b, const char *name, const char *type, const char *help) {
  ember_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_requests(ember_buf_t *b) {
  header(b, "ember_http_requests_total", "counter",
         "HTTP requests answered, by route and status code.");
  for (int r = 0; r < METRIC_ROUTE_COUNT; r++)
    for (size_t s = 0; s <= NSTATUS; s++) {
      unsigned long long v = atomic_load(&requests[r][s]);
      if (!v) continue;
      if (s < NSTATUS)
        ember_buf_printf(b, "ember_http_requests_total{route=\"%s\",code=\"%d\"} %llu\n",
                         route_names[r], statuses[s], v);
      else
        ember_buf_printf(b,
                         "ember_http_requests_total{route=\"%s\",code=\"other\"} %llu\n",
                         route_names[r], v);
    }
}

static void render_latency(ember_buf_t *b) {
  header(b, "ember_http_request_duration_seconds", "histogram",
         "Time from the first byte of a request to its response being queued.");
  for (int r = 0; r < METRIC_ROUTE_COUNT; r++) {
    unsigned long long cum = 0;
    for (size_t i = 0; i <= NBUCKETS; i++)
      cum += atomic_load(&latency[r][i]);
    if (!cum) continue;
    unsigned long long run = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
      run += atomic_load(&latency[r][i]);
      ember_buf_printf(b,
                       "ember_http_request_duration_seconds_bucket{route=\"%s\","
                       "le=\"%g\"} %llu\n",
                       route_names[r], buckets[i], run);
    }
    ember_buf_printf(
        b,
        "ember_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
        "%llu\n",
        route_names[r], cum);
    ember_buf_printf(b, "ember_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                     route_names[r], (double)atomic_load(&latency_sum_ns[r]) / 1e9);
    ember_buf_printf(b, "ember_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                     route_names[r], cum);
  }
}

static void gauge(ember_buf_t *b, const char *name, const char *type, const char *help,
                  unsigned long long v) {
  header(b, name, type, help);
  ember_buf_printf(b, "%s %llu\n", name, v);
}

static void render_server(ember_buf_t *b, const ember_server_gauges_t *g) {
  header(b, "ember_http_refused_total", "counter",
         "Requests refused before their handler ran, by reason: auth (401, 403 for "
         "a role), policy (403 cross-site or Host), budget (429, bytes in flight), "
         "queries (503, too many at once), timeout (504, query deadline).");
  for (int i = 0; i < METRIC_REFUSED_COUNT; i++)
    ember_buf_printf(b, "ember_http_refused_total{reason=\"%s\"} %llu\n",
                     refused_names[i], atomic_load(&refused[i]));
  gauge(b, "ember_http_inflight_bytes", "gauge",
        "Bytes of request bodies and parsed profiles held now.", g->inflight_bytes);
  gauge(b, "ember_http_inflight_limit_bytes", "gauge",
        "The limit on those bytes (--max-inflight).", g->inflight_limit);
  gauge(b, "ember_http_queries_running", "gauge", "Queries running now.",
        g->queries_running);
  gauge(b, "ember_http_queries_waiting", "gauge", "Queries waiting for a slot.",
        g->queries_waiting);
  gauge(b, "ember_http_connections_closed_deadline_total", "counter",
        "Connections closed for sending a request too slowly or idling too long.",
        g->conns_closed_deadline);
}

void ember_metrics_render(ember_buf_t *b, const ember_server_gauges_t *g,
                          ember_store_t *store) {
  render_requests(b);
  render_latency(b);
  render_server(b, g);
  gauge(b, "ember_ingest_bytes_total", "counter",
        "Request body bytes received by /ingest and push.v1 (before decompression).",
        atomic_load(&ingest_bytes));
  gauge(b, "ember_ingest_profiles_total", "counter",
        "Profiles (series pushes) accepted by /ingest and push.v1.", atomic_load(&ingest_profiles));
  gauge(b, "ember_ingest_samples_total", "counter",
        "Sum of sample values accepted by /ingest and push.v1.", atomic_load(&ingest_samples));
  gauge(b, "ember_ingest_stacks_truncated_total", "counter",
        "Stacks cut at --max-stack-depth by /ingest and push.v1.", atomic_load(&ingest_truncated));
  gauge(b, "ember_ingest_jfr_unknown_contexts_total", "counter",
        "JFR events whose context id the push's labels part did not have (stored "
        "without context labels).",
        atomic_load(&jfr_unknown_contexts));
  ember_store_stats_t st = {0};
  ember_store_stats(store, &st);
  gauge(b, "ember_write_queue_depth", "gauge", "Requests waiting for the storage writer.",
        st.queue_depth);
  gauge(b, "ember_write_queue_capacity", "gauge",
        "Requests the write queue holds before answering 429.", st.queue_max);
  gauge(b, "ember_store_commits_total", "counter", "Storage transactions committed.",
        st.commits);
  gauge(b, "ember_store_rows_written_total", "counter", "Segment rows written.",
        st.rows_written);
  gauge(b, "ember_store_rows_deleted_total", "counter",
        "Segment rows deleted by retention or app deletion.", st.rows_deleted);
  header(b, "ember_store_last_commit_seconds", "gauge",
         "Duration of the last storage commit.");
  ember_buf_printf(b, "ember_store_last_commit_seconds %.6f\n",
                   (double)st.last_commit_ns / 1e9);
  gauge(b, "ember_store_dict_cache_bytes", "gauge",
        "Memory of the cached stack dictionaries (bounded by --dict-cache).",
        st.dict_bytes);
  gauge(b, "ember_store_dict_evictions_total", "counter",
        "Dictionaries dropped from memory to stay within --dict-cache.",
        st.dict_evictions);
  gauge(b, "ember_store_maintenance_owner", "gauge",
        "1 when this process does the store's maintenance (retention, compaction); "
        "of nodes sharing one database, one at a time.",
        st.maintenance_owner);
  ember_store_health_t h;
  ember_store_health(store, &h);
  gauge(b, "ember_store_ready", "gauge",
        "1 when the last write succeeded and the disk has room (GET /readyz), "
        "else 0.",
        h.ready);
  gauge(b, "ember_store_disk_free_bytes", "gauge",
        "Bytes the server may still write on the data directory's disk.",
        h.disk_free_bytes);
  gauge(b, "ember_store_last_success_timestamp_seconds", "gauge",
        "When a write was last committed (Unix time; 0: none since start).",
        (unsigned long long)h.last_commit_unix);
  gauge(b, "ember_db_size_bytes", "gauge",
        "Size of the database files on disk (including the WAL).", st.db_bytes);
}
