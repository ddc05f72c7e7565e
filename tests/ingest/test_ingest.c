/* Tests for src/ingest/ingest.c: parameters, defaults, format dispatch and
 * the order in which errors are reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "ember/ingest.h"
#include "ingest/ingest_test_util.h"
#include "ingest/pprof_test_util.h"

#define NOW INT64_C(1700000000)

static const uint8_t TREE_AB_AC[] = {0x00, 0x00, 0x01, 0x01, 'a', 0x00, 0x02, 0x01,
                                     'b',  0x01, 0x00, 0x01, 'c', 0x02, 0x00};
static const uint8_t TRIE_AB_AC[] = {0x00, 0x00, 0x01, 0x02, 'a', ';',  0x00, 0x02,
                                     0x01, 'b',  0x01, 0x00, 0x01, 'c', 0x02, 0x00};

/* A request for app.cpu with a folded body; tests change what they need. */
static ember_ingest_request_t request(const char *body) {
  ember_ingest_request_t r;
  memset(&r, 0, sizeof r);
  r.name = "app.cpu{region=eu}";
  r.body = (const uint8_t *)body;
  r.body_len = strlen(body);
  r.max_body = 1 << 20;
  r.now = NOW;
  return r;
}

static ember_ingest_result_t parse_ok(const ember_ingest_request_t *r) {
  ember_ingest_result_t res;
  ember_err_t err;
  if (ember_ingest_parse(r, &res, &err)) fail_msg("parse failed: %s", err.msg);
  return res;
}

/* The dump of the single profile a request must give (static). */
static const char *parse_dump(const ember_ingest_request_t *r) {
  static char out[1024];
  ember_ingest_result_t res = parse_ok(r);
  assert_int_equal(res.n, 1);
  char *d = tree_dump(res.items[0].tree);
  snprintf(out, sizeof out, "%s", d);
  free(d);
  ember_ingest_result_free(&res);
  return out;
}

static const char *parse_error(const ember_ingest_request_t *r, int code) {
  static ember_err_t err;
  ember_ingest_result_t res = {.items = (ember_profile_t *)&res, .n = 77};
  int rc = ember_ingest_parse(r, &res, &err);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  /* Nothing written to the result on failure. */
  assert_ptr_equal(res.items, (ember_profile_t *)&res);
  assert_int_equal(res.n, 77);
  return err.msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- Parameters ---------------------------------------------------------- */

static void test_ingest_fills_defaults(void **state) {
  ember_ingest_request_t r = request("a;b 1\na;c 2\n");
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.n, 1);
  const ember_profile_t *p = &res.items[0];
  assert_string_equal(p->key.app, "app.cpu");
  assert_int_equal(p->key.nlabels, 1);
  assert_string_equal(p->key.labels[0].value, "eu");
  assert_int_equal(p->from, NOW);
  assert_int_equal(p->until, NOW);
  assert_int_equal(p->sample_rate, 100);
  assert_string_equal(p->spy_name, "unknown");
  assert_string_equal(p->units, "samples");
  assert_int_equal(p->aggregation, EMBER_AGG_SUM);
  assert_int_equal(ember_tree_total(p->tree, 0), 3);
  assert_int_equal(ember_ingest_result_samples(&res), 3);
  ember_ingest_result_free(&res);
  assert_null(res.items);
  assert_int_equal(res.n, 0);
}

static void test_ingest_reads_every_parameter(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.from = "now-10s";
  r.until = "1700000005000"; /* milliseconds */
  r.sample_rate = "99";
  r.spy_name = "pyspy";
  r.units = "objects";
  r.aggregation = "average";
  ember_ingest_result_t res = parse_ok(&r);
  const ember_profile_t *p = &res.items[0];
  assert_int_equal(p->from, NOW - 10);
  assert_int_equal(p->until, NOW + 5);
  assert_int_equal(p->sample_rate, 99);
  assert_string_equal(p->spy_name, "pyspy");
  assert_string_equal(p->units, "objects");
  assert_int_equal(p->aggregation, EMBER_AGG_AVERAGE);
  ember_ingest_result_free(&res);
}

static void test_ingest_from_defaults_to_until(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.until = "1600000000";
  r.from = "";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.items[0].from, 1600000000);
  assert_int_equal(res.items[0].until, 1600000000);
  ember_ingest_result_free(&res);
}

static void test_ingest_rejects_missing_name(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.name = NULL;
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "missing 'name' parameter: name the series, e.g. "
                      "name=myapp.cpu{region=eu}");
  r.name = "  ";
  assert_contains(parse_error(&r, EMBER_EINVAL), "missing 'name' parameter");
}

static void test_ingest_rejects_bad_name_with_the_parsers_message(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.name = "app.cpu{region}";
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "name: label 'region' has no '='; write key=value");
  r.name = "app.cpuregion=eu";
  assert_contains(parse_error(&r, EMBER_EINVAL), "-g/--globoff");
}

static void test_ingest_rejects_bad_times(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.from = "yesterday";
  assert_contains(parse_error(&r, EMBER_EINVAL), "from: 'yesterday' is not a time");
  r.from = NULL;
  r.until = "17000000000";
  assert_contains(parse_error(&r, EMBER_EINVAL), "until: '17000000000' has 11 digits");
  r.from = "1700000100";
  r.until = "1700000000";
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "'until' (1700000000) is before 'from' (1700000100); send a time "
                      "range with from <= until");
}

static void test_ingest_checks_sample_rate(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  static const char *bad[] = {"0", "-1", "abc", "1.5", "1000000001",
                              "99999999999999999999999", "1e3"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    r.sample_rate = bad[i];
    assert_contains(parse_error(&r, EMBER_EINVAL),
                    "sampleRate: expected a whole number of samples per second from 1 "
                    "to 1000000000, got '");
  }
  r.sample_rate = "1000000000";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.items[0].sample_rate, 1000000000);
  ember_ingest_result_free(&res);
}

static void test_ingest_checks_spy_name_and_units(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  char long_name[70];
  memset(long_name, 'x', 65);
  long_name[65] = '\0';
  r.spy_name = long_name;
  assert_contains(parse_error(&r, EMBER_EINVAL),
                  "spyName: expected at most 64 printable ASCII characters");
  long_name[64] = '\0';
  ember_ingest_result_t res = parse_ok(&r);
  ember_ingest_result_free(&res);
  r.spy_name = NULL;
  r.units = "by\ntes";
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "units: expected at most 64 printable ASCII characters, got "
                      "'by\\x0ates'");
}

static void test_ingest_checks_aggregation(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.aggregation = "max";
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "aggregationType: expected 'sum' or 'average', got 'max'");
  r.aggregation = "SUM";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.items[0].aggregation, EMBER_AGG_SUM);
  ember_ingest_result_free(&res);
}

/* ---- Formats ------------------------------------------------------------- */

static void test_ingest_defaults_to_folded(void **state) {
  ember_ingest_request_t r = request("a;b 1\na;c 2\n");
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  r.format = "folded";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  r.content_type = "text/plain; charset=utf-8";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
}

static void test_ingest_picks_lines_by_format(void **state) {
  ember_ingest_request_t r = request("a;b\na;b\na;c\n");
  r.format = "lines";
  assert_string_equal(parse_dump(&r), "a;b 2\na;c 1\n");
}

static void test_ingest_picks_tree_by_format_or_content_type(void **state) {
  ember_ingest_request_t r = request("");
  r.body = TREE_AB_AC;
  r.body_len = sizeof TREE_AB_AC;
  r.format = "tree";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  r.format = NULL;
  r.content_type = "Binary/Octet-Stream+Tree; charset=binary";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
}

static void test_ingest_picks_trie_by_format_or_content_type(void **state) {
  ember_ingest_request_t r = request("");
  r.body = TRIE_AB_AC;
  r.body_len = sizeof TRIE_AB_AC;
  r.format = "trie";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  r.format = NULL;
  r.content_type = "binary/octet-stream+trie";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  /* First match wins: the trie content type beats format=folded. */
  r.format = "folded";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
}

/* A pprof profile with one stack, f;g 3, of samples/count at 100 Hz. */
static uint8_t *pprof_fg(size_t *len) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  pb_period(&b, "cpu", "nanoseconds", 10000000);
  uint64_t f = pb_loc1(&b, pb_func(&b, "f", "")), g = pb_loc1(&b, pb_func(&b, "g", ""));
  pb_sample(&b, 2, (uint64_t[]){g, f}, (int64_t[]){3}, NULL);
  uint8_t *out = pb_pack(&b, len);
  pb_free(&b);
  return out;
}

static void test_ingest_picks_pprof_by_format_or_multipart(void **state) {
  size_t len, zlen;
  uint8_t *pb = pprof_fg(&len);
  uint8_t *gz = gzip_bytes(pb, len, &zlen);
  ember_ingest_request_t r = request("");
  r.format = "pprof";
  r.sample_rate = "17"; /* the period says 100 */
  r.body = pb;
  r.body_len = len;
  assert_string_equal(parse_dump(&r), "f;g 3\n");
  ember_ingest_result_t res = parse_ok(&r);
  assert_string_equal(res.items[0].key.app, "app.cpu");
  assert_int_equal(res.items[0].sample_rate, 100);
  ember_ingest_result_free(&res);
  /* gzip inside (what @pyroscope/nodejs sends) or as Content-Encoding
   * (pyroscope-rs), or both. */
  r.body = gz;
  r.body_len = zlen;
  assert_string_equal(parse_dump(&r), "f;g 3\n");
  uint8_t *gz2 = gzip_bytes(gz, zlen, &len);
  r.body = gz2;
  r.body_len = len;
  r.content_encoding = "gzip";
  assert_string_equal(parse_dump(&r), "f;g 3\n");
  /* multipart/form-data is pprof without format=. */
  ember_buf_t form = EMBER_BUF_INIT;
  ember_buf_puts(&form, "--zz\r\nContent-Disposition: form-data; name=\"profile\"; "
                        "filename=\"profile.pprof\"\r\n\r\n");
  ember_buf_append(&form, gz, zlen);
  ember_buf_puts(&form, "\r\n--zz--\r\n");
  r.format = NULL;
  r.content_encoding = NULL;
  r.content_type = "multipart/form-data; boundary=zz";
  r.body = (const uint8_t *)form.data;
  r.body_len = form.len;
  assert_string_equal(parse_dump(&r), "f;g 3\n");
  ember_buf_free(&form);
  free(gz2);
  free(gz);
  free(pb);
}

static void test_ingest_reports_unreadable_pprof(void **state) {
  ember_ingest_request_t r = request("not a profile");
  r.format = "pprof";
  assert_contains(parse_error(&r, EMBER_EPARSE), "profile: not a valid pprof profile");
  /* A zip bomb: a few KiB that inflate past the body limit. */
  size_t n = r.max_body + 1, zlen;
  uint8_t *zeros = calloc(1, n);
  uint8_t *z = gzip_bytes(zeros, n, &zlen);
  r.body = z;
  r.body_len = zlen;
  assert_contains(parse_error(&r, EMBER_EPARSE), "decompressed body is larger");
  r.body_len = zlen / 2;
  assert_contains(parse_error(&r, EMBER_EPARSE), "gzip stream is truncated");
  free(zeros);
  free(z);
  /* A form without the profile field. */
  r = request("--zz\r\nContent-Disposition: form-data; name=\"prev_profile\"\r\n\r\n"
              "x\r\n--zz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\n"
              "y\r\n--zz--\r\n");
  r.content_type = "multipart/form-data; boundary=zz";
  assert_string_equal(parse_error(&r, EMBER_EPARSE),
                      "multipart body: no 'profile' field (the form has 'prev_profile', "
                      "'other'); send the pprof profile in a field named 'profile'");
  r = request("--zz\r\nContent-Disposition: form-data; name=profile\r\n\r\n"
              "\r\n--zz\r\nContent-Disposition: form-data; name=profile\r\n\r\n"
              "\r\n--zz--\r\n");
  r.content_type = "multipart/form-data; boundary=zz";
  assert_contains(parse_error(&r, EMBER_EPARSE), "the field 'profile' appears twice");
  r = request("--zz\r\nContent-Disposition: form-data; name=profile\r\n\r\n");
  r.content_type = "multipart/form-data; boundary=zz";
  assert_contains(parse_error(&r, EMBER_EPARSE), "the body ends without the closing");
}

static void test_ingest_rejects_unknown_format(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.format = "collapsed";
  assert_string_equal(parse_error(&r, EMBER_EINVAL),
                      "unknown format 'collapsed'; use folded, lines, tree, trie, pprof or "
                      "jfr");
}

static void test_ingest_format_jfr_reads_a_recording_named_by_its_event(void **state) {
  size_t len;
  char *jfr = read_fixture("jfr/asprof.jfr", &len);
  ember_ingest_request_t r = request("");
  r.body = (const uint8_t *)jfr;
  r.body_len = len;
  r.format = "jfr";
  r.event = "itimer";
  ember_ingest_result_t res = parse_ok(&r);
  bool itimer = false;
  for (size_t i = 0; i < res.n; i++)
    itimer |= !strcmp(res.items[i].key.app, "app.itimer");
  assert_true(itimer);
  assert_int_equal(res.unknown_contexts, 7);
  ember_ingest_result_free(&res);
  r.event = "ctimer";
  assert_contains(parse_error(&r, EMBER_EINVAL), "event: expected cpu, itimer, wall");
  /* format=jfr wins over the multipart media type: a form is read as a
   * JFR push (this body is no form). */
  r.event = NULL;
  r.content_type = "multipart/form-data; boundary=B";
  assert_contains(parse_error(&r, EMBER_EPARSE), "multipart body");
  free(jfr);
}

/* ---- Bodies -------------------------------------------------------------- */

static void test_ingest_decodes_content_encoding_first(void **state) {
  static const char text[] = "a;b 1\na;c 2\n";
  uLongf len = compressBound(sizeof text);
  uint8_t *gz = malloc(len + 32);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = (Bytef *)text;
  zs.avail_in = sizeof text - 1;
  zs.next_out = gz;
  zs.avail_out = (uInt)(len + 32);
  assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
  ember_ingest_request_t r = request("");
  r.body = gz;
  r.body_len = zs.total_out;
  deflateEnd(&zs);
  r.content_encoding = "gzip";
  assert_string_equal(parse_dump(&r), "a;b 1\na;c 2\n");
  r.max_body = 5;
  assert_contains(parse_error(&r, EMBER_EPARSE), "larger than the limit of 5 bytes");
  r.content_encoding = "br";
  assert_contains(parse_error(&r, EMBER_EINVAL), "unsupported Content-Encoding 'br'");
  free(gz);
}

static void test_ingest_body_without_samples_gives_no_profiles(void **state) {
  static const char *bodies[] = {"", "\n\n", "a;b 0\n"};
  for (size_t i = 0; i < 3; i++) {
    ember_ingest_request_t r = request(bodies[i]);
    ember_ingest_result_t res = parse_ok(&r);
    assert_int_equal(res.n, 0);
    assert_null(res.items);
    assert_int_equal(ember_ingest_result_samples(&res), 0);
    ember_ingest_result_free(&res);
  }
  ember_ingest_request_t r = request("");
  r.format = "tree";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.n, 0);
}

static void test_ingest_reports_unparseable_bodies(void **state) {
  ember_ingest_request_t r = request("a;b 1\noops\n");
  assert_contains(parse_error(&r, EMBER_EPARSE), "line 2: expected 'frame;frame;... count'");
  r = request("\x05\x01");
  r.format = "tree";
  assert_contains(parse_error(&r, EMBER_EPARSE), "tree body: ");
}

static void test_ingest_reports_parameters_before_the_body(void **state) {
  /* A bad parameter (400) and a bad body (422): the parameter comes first,
   * then the format, then the encoding. */
  ember_ingest_request_t r = request("not folded\n");
  r.format = "nope";
  r.sample_rate = "0";
  r.content_encoding = "br";
  assert_contains(parse_error(&r, EMBER_EINVAL), "sampleRate: ");
  r.sample_rate = NULL;
  assert_contains(parse_error(&r, EMBER_EINVAL), "unknown format 'nope'");
  r.format = NULL;
  assert_contains(parse_error(&r, EMBER_EINVAL), "unsupported Content-Encoding");
}

static void test_ingest_realistic_bodies_agree_across_formats(void **state) {
  static const struct {
    const char *file, *format;
  } bodies[] = {{"ingest/profile.folded", NULL},
                {"ingest/profile.tree", "tree"},
                {"ingest/profile.trie", "trie"}};
  size_t elen;
  char *want = read_fixture("ingest/profile.expected", &elen);
  for (size_t i = 0; i < 3; i++) {
    size_t len;
    char *body = read_fixture(bodies[i].file, &len);
    ember_ingest_request_t r = request("");
    r.body = (const uint8_t *)body;
    r.body_len = len;
    r.format = bodies[i].format;
    ember_ingest_result_t res = parse_ok(&r);
    assert_int_equal(res.n, 1);
    char *got = tree_dump(res.items[0].tree);
    assert_string_equal(got, want);
    free(got);
    free(body);
    ember_ingest_result_free(&res);
  }
  free(want);
}

static void test_ingest_free_functions_accept_null_and_empty(void **state) {
  ember_ingest_result_free(NULL);
  ember_profile_free(NULL);
  ember_ingest_result_t res = {0};
  ember_ingest_result_free(&res);
  ember_profile_t p;
  memset(&p, 0, sizeof p);
  ember_profile_free(&p);
}

/* ---- Limits ------------------------------------------------------------------ */

static void test_ingest_refuses_times_beyond_the_future_skew(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.from = "now+100y";
  r.until = "now+100y";
  assert_string_equal(parse_error(&r, EMBER_ERANGE),
                      "from: 4853600000 (2123-10-21T22:13:20Z) is too far in the future; "
                      "a push may cover times from 2000-01-01T00:00:00Z to now+10m "
                      "(2023-11-14T22:23:20Z by the server's clock); check the agent's "
                      "clock and time unit, or raise the server's --max-future-skew");
  r.from = "now";
  r.until = "now+601s";
  assert_contains(parse_error(&r, EMBER_ERANGE), "until: 1700000601 (");
  r.until = "now+10m"; /* a clock a little ahead is fine */
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.items[0].until, NOW + 600);
  ember_ingest_result_free(&res);
  r.until = "now+1h";
  r.limits.max_future_skew = 3600;
  res = parse_ok(&r);
  ember_ingest_result_free(&res);
  r.until = "now+61m";
  assert_contains(parse_error(&r, EMBER_ERANGE), "to now+1h (");
  /* pprof too: its times are the request's. */
  size_t len;
  uint8_t *pb = pprof_fg(&len);
  r = request("");
  r.format = "pprof";
  r.body = pb;
  r.body_len = len;
  r.from = "now+1d";
  r.until = "now+1d";
  assert_contains(parse_error(&r, EMBER_ERANGE), "from: 1700086400 (");
  free(pb);
}

static void test_ingest_refuses_times_before_2000(void **state) {
  ember_ingest_request_t r = request("a 1\n");
  r.from = "0";
  assert_string_equal(
      parse_error(&r, EMBER_ERANGE),
      "from: 0 (1970-01-01T00:00:00Z) is before the year 2000; a push may "
      "cover times from 2000-01-01T00:00:00Z to now+10m "
      "(2023-11-14T22:23:20Z by the server's clock); check the agent's "
      "clock and time unit");
  r.from = "946684799";
  assert_contains(parse_error(&r, EMBER_ERANGE), "before the year 2000");
  r.from = "now-30y"; /* far back means time 0 */
  assert_contains(parse_error(&r, EMBER_ERANGE), "before the year 2000");
  r.from = "946684800";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(res.items[0].from, 946684800);
  ember_ingest_result_free(&res);
}

/* One body per format, each of the stacks a;b;c;d (1) and a;b (2). */
static void test_ingest_cuts_deep_stacks_in_every_format_and_counts_them(void **state) {
  static const uint8_t tree[] = {0, 0, 1,   1, 'a', 0, 1,   1, 'b', 2,
                                 1, 1, 'c', 0, 1,   1, 'd', 1, 0};
  static const uint8_t trie[] = {0, 0, 1, 4,   'a', ';', 'b', ';',
                                 2, 1, 3, 'c', ';', 'd', 1,   0};
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t la = pb_loc1(&b, pb_func(&b, "a", "")), lb = pb_loc1(&b, pb_func(&b, "b", ""));
  uint64_t lc = pb_loc1(&b, pb_func(&b, "c", "")), ld = pb_loc1(&b, pb_func(&b, "d", ""));
  pb_sample(&b, 4, (uint64_t[]){ld, lc, lb, la}, (int64_t[]){1}, NULL);
  pb_sample(&b, 2, (uint64_t[]){lb, la}, (int64_t[]){2}, NULL);
  size_t pblen;
  uint8_t *pb = pb_pack(&b, &pblen);
  const struct {
    const char *format;
    const void *body;
    size_t len;
  } cases[] = {
      {"folded", "a;b;c;d 1\na;b 2\n", 16},
      {"lines", "a;b;c;d\na;b\na;b\n", 16},
      {"tree", tree, sizeof tree},
      {"trie", trie, sizeof trie},
      {"pprof", pb, pblen},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    ember_ingest_request_t r = request("");
    r.format = cases[i].format;
    r.body = cases[i].body;
    r.body_len = cases[i].len;
    r.limits.max_stack_depth = 3;
    ember_ingest_result_t res = parse_ok(&r);
    assert_int_equal(res.n, 1);
    char *d = tree_dump(res.items[0].tree);
    if (strcmp(d, "a;b 2\na;b;[truncated] 1\n"))
      fail_msg("%s: got '%s'", cases[i].format, d);
    assert_int_equal(res.stacks_truncated, 1);
    free(d);
    ember_ingest_result_free(&res);
    r.limits.max_stack_depth = 4;
    res = parse_ok(&r);
    assert_int_equal(res.stacks_truncated, 0);
    ember_ingest_result_free(&res);
  }
  free(pb);
  pb_free(&b);
}

static void test_ingest_takes_decoded_bytes_from_the_budget(void **state) {
  static const char text[] = "a;b 1\na;c 2\n";
  size_t zlen;
  uint8_t *gz = gzip_bytes(text, strlen(text), &zlen);
  uint8_t zs[256];
  size_t zslen = ZSTD_compress(zs, sizeof zs, text, strlen(text), 3);
  assert_false(ZSTD_isError(zslen));
  ember_budget_t budget = {0, 1 << 20};
  ember_ingest_request_t r = request("");
  r.budget = &budget;
  r.body = gz;
  r.body_len = zlen;
  r.content_encoding = "gzip";
  ember_ingest_result_t res = parse_ok(&r);
  assert_int_equal(ember_budget_used(&budget), 0); /* all given back */
  ember_ingest_result_free(&res);
  r.body = zs;
  r.body_len = zslen;
  r.content_encoding = "zstd";
  res = parse_ok(&r);
  assert_int_equal(ember_budget_used(&budget), 0);
  ember_ingest_result_free(&res);
  /* The decoded body starts at 4 KiB: with less room, a 429 to retry. */
  budget.limit = 4095;
  assert_string_equal(parse_error(&r, EMBER_EBUSY),
                      "server is busy: too many bytes in flight; retry");
  r.body = gz;
  r.body_len = zlen;
  r.content_encoding = "gzip";
  assert_string_equal(parse_error(&r, EMBER_EBUSY),
                      "server is busy: too many bytes in flight; retry");
  assert_int_equal(ember_budget_used(&budget), 0);
  /* An identity body is parsed where it is: 512 KiB of it fits a budget of
   * 64 KiB, which holds its small tree but no copy. */
  ember_buf_t big = EMBER_BUF_INIT;
  while (big.len < (512 << 10))
    ember_buf_puts(&big, text);
  budget.limit = 64 << 10;
  r = request(big.data);
  r.budget = &budget;
  res = parse_ok(&r);
  assert_int_equal(res.n, 1);
  assert_int_equal(ember_budget_used(&budget), 0);
  ember_ingest_result_free(&res);
  ember_buf_free(&big);
  free(gz);
}

static void test_ingest_reports_the_memory_its_profiles_hold(void **state) {
  ember_ingest_request_t r = request("a;b 1\n");
  ember_ingest_result_t small = parse_ok(&r);
  assert_true(small.mem_bytes >=
              ember_tree_mem(small.items[0].tree) + sizeof(ember_profile_t));
  ember_buf_t big = EMBER_BUF_INIT;
  for (int i = 0; i < 1000; i++)
    ember_buf_printf(&big, "a;b%d 1\n", i);
  r = request(big.data);
  ember_ingest_result_t large = parse_ok(&r);
  assert_true(large.mem_bytes > small.mem_bytes + 1000 * sizeof(ember_tree_node_t));
  ember_ingest_result_free(&small);
  ember_ingest_result_free(&large);
  ember_buf_free(&big);
}

static void test_ingest_takes_the_memory_of_its_trees_from_the_budget(void **state) {
  /* 2,000 distinct stacks: a tree of some 200 KB. */
  ember_buf_t body = EMBER_BUF_INIT;
  for (int i = 0; i < 2000; i++)
    ember_buf_printf(&body, "main;f%d;g%d 1\n", i, i);
  ember_budget_t budget = {0, 64 << 20};
  ember_ingest_request_t r = request(body.data);
  r.budget = &budget;
  ember_ingest_result_t res = parse_ok(&r);
  /* Given back when the parse ends: mem_bytes is the caller's to count. */
  assert_int_equal(ember_budget_used(&budget), 0);
  assert_true(res.mem_bytes > 100 << 10);
  ember_ingest_result_free(&res);
  /* Others hold all but 64 KiB: busy, retry. */
  budget.used = budget.limit - (64 << 10);
  assert_string_equal(parse_error(&r, EMBER_EBUSY),
                      "server is busy: too many bytes in flight; retry");
  assert_int_equal(ember_budget_used(&budget), budget.limit - (64 << 10));
  /* A budget of 64 KiB in all: this push could never fit. */
  budget.used = 0;
  budget.limit = 64 << 10;
  assert_string_equal(parse_error(&r, EMBER_ETOOBIG),
                      "body: its profiles would take more than 64 KiB of memory, more "
                      "than the server holds for all pushes at once (--max-inflight); "
                      "send smaller pushes");
  assert_int_equal(ember_budget_used(&budget), 0);
  ember_buf_free(&body);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ingest_fills_defaults),
      cmocka_unit_test(test_ingest_reads_every_parameter),
      cmocka_unit_test(test_ingest_from_defaults_to_until),
      cmocka_unit_test(test_ingest_rejects_missing_name),
      cmocka_unit_test(test_ingest_rejects_bad_name_with_the_parsers_message),
      cmocka_unit_test(test_ingest_rejects_bad_times),
      cmocka_unit_test(test_ingest_checks_sample_rate),
      cmocka_unit_test(test_ingest_checks_spy_name_and_units),
      cmocka_unit_test(test_ingest_checks_aggregation),
      cmocka_unit_test(test_ingest_defaults_to_folded),
      cmocka_unit_test(test_ingest_picks_lines_by_format),
      cmocka_unit_test(test_ingest_picks_tree_by_format_or_content_type),
      cmocka_unit_test(test_ingest_picks_trie_by_format_or_content_type),
      cmocka_unit_test(test_ingest_picks_pprof_by_format_or_multipart),
      cmocka_unit_test(test_ingest_reports_unreadable_pprof),
      cmocka_unit_test(test_ingest_rejects_unknown_format),
      cmocka_unit_test(test_ingest_format_jfr_reads_a_recording_named_by_its_event),
      cmocka_unit_test(test_ingest_decodes_content_encoding_first),
      cmocka_unit_test(test_ingest_body_without_samples_gives_no_profiles),
      cmocka_unit_test(test_ingest_reports_unparseable_bodies),
      cmocka_unit_test(test_ingest_reports_parameters_before_the_body),
      cmocka_unit_test(test_ingest_realistic_bodies_agree_across_formats),
      cmocka_unit_test(test_ingest_free_functions_accept_null_and_empty),
      cmocka_unit_test(test_ingest_refuses_times_beyond_the_future_skew),
      cmocka_unit_test(test_ingest_refuses_times_before_2000),
      cmocka_unit_test(test_ingest_cuts_deep_stacks_in_every_format_and_counts_them),
      cmocka_unit_test(test_ingest_takes_decoded_bytes_from_the_budget),
      cmocka_unit_test(test_ingest_takes_the_memory_of_its_trees_from_the_budget),
      cmocka_unit_test(test_ingest_reports_the_memory_its_profiles_hold),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
