/* Tests for src/ingest/pprof.c: reading one pprof profile. Frame names
 * (inlined calls, missing symbols), id lookups, and every way a profile can
 * be broken: each must be a clear 4xx, never a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_int.h"
#include "ingest/pprof_test_util.h"

#define MAX_BODY ((size_t)1 << 20)

/* The limits a document is opened with; it borrows them until closed. */
static const ingest_ctx_t *limits(size_t max_body) {
  static ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, max_body, NULL);
  return &c;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* The stack of sample i as "root;...;leaf", cut at max_depth frames.
 * Static buffer. */
static const char *stack_cut(const pprof_doc_t *d, size_t i, uint32_t max_depth) {
  static char out[2048];
  pprof_stack_t st = {0};
  ember_err_t err;
  if (pprof_doc_stack(d, i, max_depth, &st, &err)) fail_msg("%s", err.msg);
  size_t o = 0;
  out[0] = '\0';
  for (size_t k = 0; k < st.n; k++)
    o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", k ? ";" : "",
                          (int)st.frames[k].len, st.frames[k].base);
  pprof_stack_free(&st);
  return out;
}

static const char *stack_of(const pprof_doc_t *d, size_t i) {
  return stack_cut(d, i, EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH);
}

static void open_ok(pprof_doc_t *d, const pb_t *b) {
  size_t len;
  uint8_t *buf = pb_pack(b, &len);
  ember_err_t err;
  if (pprof_doc_open(d, "profile", buf, len, limits(MAX_BODY), &err))
    fail_msg("%s", err.msg);
  free(buf);
}

static const char *open_error(const void *buf, size_t len, int code) {
  static ember_err_t err;
  pprof_doc_t d;
  int rc = pprof_doc_open(&d, "profile", buf, len, limits(MAX_BODY), &err);
  if (rc != code) fail_msg("gave %d (%s), want %d", rc, err.msg, code);
  assert_null(d.pb); /* left empty */
  return err.msg;
}

static const char *open_pb_error(const pb_t *b, int code) {
  static char msg[EMBER_ERR_MSG_MAX];
  size_t len;
  uint8_t *buf = pb_pack(b, &len);
  snprintf(msg, sizeof msg, "%s", open_error(buf, len, code));
  free(buf);
  return msg;
}

/* ---- Frames --------------------------------------------------------------- */

static void test_pprof_stacks_are_root_first(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t a = pb_loc1(&b, pb_func(&b, "a", "")), bb = pb_loc1(&b, pb_func(&b, "b", ""));
  uint64_t c = pb_loc1(&b, pb_func(&b, "c", ""));
  pb_sample(&b, 3, (uint64_t[]){c, bb, a}, (int64_t[]){1}, NULL);
  pb_sample(&b, 0, NULL, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  assert_string_equal(stack_of(&d, 0), "a;b;c");
  assert_string_equal(stack_of(&d, 1), "");
  pprof_doc_close(&d);
  pb_free(&b);
}

static void test_pprof_expands_inlined_frames_caller_first(void **state) {
  /* One location: leaf() inlined into mid() inlined into outer(); pprof
   * lists them leaf first, the caller last. */
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t leaf = pb_func(&b, "leaf", ""), mid = pb_func(&b, "mid", "");
  uint64_t outer = pb_func(&b, "outer", ""), root = pb_func(&b, "main", "");
  uint64_t l1 = pb_loc(&b, 0x10, 0, 3, (uint64_t[]){leaf, mid, outer}, NULL);
  uint64_t l2 = pb_loc1(&b, root);
  pb_sample(&b, 2, (uint64_t[]){l1, l2}, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  assert_string_equal(stack_of(&d, 0), "main;outer;mid;leaf");
  pprof_doc_close(&d);
  pb_free(&b);
}

static void test_pprof_names_frames_without_function_names(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t m = pb_mapping(&b, "/usr/lib/x86_64-linux-gnu/libc.so.6");
  uint64_t file_only = pb_func(&b, "", "src/app.js");
  uint64_t sys_only = pb_func(&b, "", "");
  b.funcs[sys_only - 1].system_name = pb_str(&b, "_ZN3app4mainEv");
  uint64_t nothing = pb_func(&b, "", "");
  uint64_t l1 = pb_loc(&b, 0, 0, 1, &file_only, (int64_t[]){42});
  uint64_t l2 = pb_loc(&b, 0, 0, 1, &sys_only, NULL);
  uint64_t l3 = pb_loc(&b, 0x7f3a2c, m, 0, NULL, NULL); /* no symbols */
  uint64_t l4 = pb_loc(&b, 0xdead, 0, 0, NULL, NULL);   /* nor mapping */
  uint64_t l5 = pb_loc(&b, 0xbeef, m, 1, &nothing, NULL);
  uint64_t zero = 0;
  uint64_t l6 = pb_loc(&b, 0xf00, 0, 1, &zero, NULL); /* line without function */
  pb_sample(&b, 6, (uint64_t[]){l1, l2, l3, l4, l5, l6}, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  assert_string_equal(stack_of(&d, 0), "0xf00;0xbeef (libc.so.6);0xdead;"
                                       "0x7f3a2c (libc.so.6);_ZN3app4mainEv;"
                                       "src/app.js:42");
  pprof_doc_close(&d);
  pb_free(&b);
}

static void test_pprof_finds_ids_in_any_order(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t f = pb_func(&b, "f", ""), g = pb_func(&b, "g", "");
  b.funcs[0].id = 900; /* f */
  b.funcs[1].id = 7;   /* g */
  uint64_t lf = pb_loc1(&b, f), lg = pb_loc1(&b, g);
  b.locs[lf - 1].line[0]->function_id = 900;
  b.locs[lg - 1].line[0]->function_id = 7;
  b.locs[lf - 1].id = 1u << 31;
  b.locs[lg - 1].id = 3;
  pb_sample(&b, 2, (uint64_t[]){3, 1u << 31}, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  assert_string_equal(stack_of(&d, 0), "f;g");
  pprof_doc_close(&d);
  pb_free(&b);
}

static void test_pprof_reads_gzipped_profiles(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1}, NULL);
  size_t len, zlen;
  uint8_t *buf = pb_pack(&b, &len);
  uint8_t *z = gzip_bytes(buf, len, &zlen);
  pprof_doc_t d;
  ember_err_t err;
  assert_int_equal(pprof_doc_open(&d, "profile", z, zlen, limits(MAX_BODY), &err), 0);
  assert_int_equal(d.size, len);
  assert_string_equal(stack_of(&d, 0), "f");
  pprof_doc_close(&d);
  free(buf);
  free(z);
  pb_free(&b);
}

/* ---- Deep stacks and fan-out ---------------------------------------------- */

static void
test_pprof_cuts_deep_stacks_keeping_the_frames_nearest_the_root(void **state) {
  /* main -> outer -> mid -> leaf (the last three one inlined location),
   * then a leaf of its own: five frames. */
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t leaf = pb_func(&b, "leaf", ""), mid = pb_func(&b, "mid", "");
  uint64_t outer = pb_func(&b, "outer", ""), root = pb_func(&b, "main", "");
  uint64_t l1 = pb_loc(&b, 0x10, 0, 3, (uint64_t[]){leaf, mid, outer}, NULL);
  uint64_t l2 = pb_loc1(&b, root), l0 = pb_loc1(&b, pb_func(&b, "memcpy", ""));
  pb_sample(&b, 3, (uint64_t[]){l0, l1, l2}, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  assert_string_equal(stack_cut(&d, 0, 5), "main;outer;mid;leaf;memcpy");
  assert_string_equal(stack_cut(&d, 0, 4), "main;outer;mid;[truncated]");
  assert_string_equal(stack_cut(&d, 0, 3), "main;outer;[truncated]");
  assert_string_equal(stack_cut(&d, 0, 1), "[truncated]");
  pprof_stack_t st = {0};
  assert_int_equal(pprof_doc_stack(&d, 0, 2, &st, NULL), 0);
  assert_int_equal(st.depth, 5);
  assert_int_equal(st.n, 2);
  assert_int_equal(st.bytes, strlen("main") + strlen("[truncated]"));
  pprof_stack_free(&st);
  pprof_doc_close(&d);
  pb_free(&b);
}

/* The inline fan-out: a 107 KB profile whose one sample names a location
 * of 1,000 inlined lines 100,000 times, a stack of 10^8 frames (1.6 GB of
 * frame slices if it were expanded before being cut). */
static bool fanout_stack_is_cut_without_expanding(void *arg) {
  ember_buf_t *body = arg;
  pprof_doc_t d;
  pprof_stack_t st = {0};
  ember_err_t err;
  if (pprof_doc_open(&d, "profile", (uint8_t *)body->data, body->len, limits(MAX_BODY),
                     &err) ||
      pprof_doc_stack(&d, 0, EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH, &st, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return false;
  }
  bool ok = st.depth == UINT64_C(100000000) && st.n == 1000 && st.cap <= 2048 &&
            ember_slice_eq(st.frames[999], "[truncated]") &&
            ember_slice_eq(st.frames[998], "f");
  pprof_stack_free(&st);
  pprof_doc_close(&d);
  return ok;
}

static void test_pprof_expands_an_inline_fan_out_only_as_deep_as_it_keeps(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  pbw_fanout(&body, 1000, 100000, 1, 1);
  assert_true(body.len < 110000);
  assert_true(run_bounded(fanout_stack_is_cut_without_expanding, &body, 64, 10));
  ember_buf_free(&body);
}

/* One function with a 1 MB name, named by a location of a million inlined
 * lines: measuring the name at every line would read a terabyte. */
static bool long_names_are_measured_once(void *arg) {
  ember_buf_t *body = arg;
  pprof_doc_t d;
  ember_err_t err;
  if (pprof_doc_open(&d, "profile", (uint8_t *)body->data, body->len, limits(SIZE_MAX),
                     &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return false;
  }
  bool ok = d.nframes == 1000000 && d.frames[999999].len == 1 << 20;
  pprof_doc_close(&d);
  return ok;
}

static void test_pprof_measures_each_string_once(void **state) {
  ember_buf_t body = EMBER_BUF_INIT;
  char *name = malloc((1 << 20) + 1);
  memset(name, 'f', 1 << 20);
  name[1 << 20] = '\0';
  pbw_string(&body, "");
  pbw_string(&body, name);
  pbw_function(&body, 1, 1);
  pbw_location(&body, 1, 1, 1000000);
  assert_true(run_bounded(long_names_are_measured_once, &body, 512, 10));
  free(name);
  ember_buf_free(&body);
}

/* ---- Byte budget ------------------------------------------------------------ */

static void test_pprof_takes_inflated_and_unpacked_bytes_from_the_budget(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 1, &l, (int64_t[]){1}, NULL);
  size_t len, zlen;
  uint8_t *buf = pb_pack(&b, &len);
  uint8_t *z = gzip_bytes(buf, len, &zlen);
  ember_budget_t budget = {0, 1 << 20};
  ingest_ctx_t c;
  ingest_ctx_init(&c, NULL, MAX_BODY, &budget);
  pprof_doc_t d;
  ember_err_t err;
  assert_int_equal(pprof_doc_open(&d, "profile", z, zlen, &c, &err), 0);
  /* The inflated copy is gone; what protobuf-c built stays until close. */
  assert_true(d.unpacked > 0);
  assert_int_equal(ember_budget_used(&budget), d.unpacked);
  pprof_doc_close(&d);
  assert_int_equal(ember_budget_used(&budget), 0);
  /* No room for the inflated body (its buffer starts at 4 KiB). */
  budget.limit = 1024;
  assert_int_equal(pprof_doc_open(&d, "profile", z, zlen, &c, &err), EMBER_EBUSY);
  assert_string_equal(err.msg,
                      "profile: server is busy: too many bytes in flight; retry");
  assert_int_equal(ember_budget_used(&budget), 0);
  /* Room to read it raw, but not to unpack it. */
  budget.limit = 8;
  assert_int_equal(pprof_doc_open(&d, "profile", buf, len, &c, &err), EMBER_EBUSY);
  assert_string_equal(err.msg, "server is busy: too many bytes in flight; retry");
  assert_int_equal(ember_budget_used(&budget), 0);
  assert_null(d.pb);
  free(buf);
  free(z);
  pb_free(&b);
}

/* ---- Broken input --------------------------------------------------------- */

static void test_pprof_refuses_bytes_that_are_not_a_profile(void **state) {
  assert_contains(open_error("hello, world\n", 13, EMBER_EPARSE),
                  "profile: not a valid pprof profile (13 bytes that do not decode");
  /* A length that runs past the end. */
  assert_contains(open_error("\x32\x10" "abc", 5, EMBER_EPARSE), "not a valid pprof");
  /* A sample type that is a number where a message belongs. */
  assert_contains(open_error("\x08\x01", 2, EMBER_EPARSE), "not a valid pprof");
}

static void test_pprof_refuses_truncated_gzip(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  size_t len, zlen;
  uint8_t *buf = pb_pack(&b, &len);
  uint8_t *z = gzip_bytes(buf, len, &zlen);
  assert_string_equal(open_error(z, zlen - 6, EMBER_EPARSE),
                      "profile: the gzip stream is truncated (it ends inside a member); "
                      "send the whole compressed body");
  free(buf);
  free(z);
  pb_free(&b);
}

static void test_pprof_refuses_gzip_that_inflates_past_the_limit(void **state) {
  size_t n = MAX_BODY + 4096, zlen;
  uint8_t *zeros = calloc(1, n);
  uint8_t *z = gzip_bytes(zeros, n, &zlen);
  assert_true(zlen < 8192);
  assert_contains(open_error(z, zlen, EMBER_EPARSE),
                  "profile: the decompressed body is larger than the limit of 1048576 "
                  "bytes");
  free(zeros);
  free(z);
}

static void test_pprof_refuses_strings_out_of_range(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t f = pb_func(&b, "f", "");
  b.funcs[f - 1].name = 99;
  assert_string_equal(open_pb_error(&b, EMBER_EPARSE),
                      "profile: a function name names string 99 but the string table "
                      "has 4 entries; the profile is corrupt");
  b.funcs[f - 1].name = -1;
  assert_contains(open_pb_error(&b, EMBER_EPARSE), "names string -1");
  b.funcs[f - 1].name = 0;
  b.types[0].unit = 4;
  assert_contains(open_pb_error(&b, EMBER_EPARSE), "a sample unit names string 4");
  b.types[0].unit = 2;
  pb_mapping(&b, "x");
  b.maps[0].filename = 1000;
  assert_contains(open_pb_error(&b, EMBER_EPARSE), "a mapping's file name names string 1000");
  pb_free(&b);
}

static void test_pprof_refuses_references_to_missing_elements(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t f = pb_func(&b, "f", "");
  uint64_t l = pb_loc1(&b, f);
  b.locs[l - 1].line[0]->function_id = 5;
  assert_string_equal(open_pb_error(&b, EMBER_EPARSE),
                      "profile: location 1 names function 5, which does not exist; the "
                      "profile is corrupt");
  b.locs[l - 1].line[0]->function_id = f;
  b.locs[l - 1].n_line = 0;
  b.locs[l - 1].mapping_id = 3;
  assert_contains(open_pb_error(&b, EMBER_EPARSE),
                  "location 1 names mapping 3, which does not exist");
  pb_free(&b);
}

static void test_pprof_refuses_samples_at_missing_locations(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t l = pb_loc1(&b, pb_func(&b, "f", ""));
  pb_sample(&b, 2, (uint64_t[]){l, 77}, (int64_t[]){1}, NULL);
  pprof_doc_t d;
  open_ok(&d, &b);
  pprof_stack_t st = {0};
  ember_err_t err;
  assert_int_equal(
      pprof_doc_stack(&d, 0, EMBER_INGEST_DEFAULT_MAX_STACK_DEPTH, &st, &err),
      EMBER_EPARSE);
  assert_string_equal(err.msg, "profile: sample 1 names location 77, which does not "
                               "exist; the profile is corrupt");
  pprof_stack_free(&st);
  pprof_doc_close(&d);
  pb_free(&b);
}

static void test_pprof_refuses_duplicate_and_zero_ids(void **state) {
  pb_t b;
  pb_init(&b);
  pb_type(&b, "samples", "count");
  uint64_t f = pb_func(&b, "f", "");
  pb_loc1(&b, f);
  pb_loc1(&b, f);
  b.locs[1].id = 1;
  assert_string_equal(open_pb_error(&b, EMBER_EPARSE),
                      "profile: two locations have id 1; ids must be unique");
  b.locs[1].id = 0;
  assert_contains(open_pb_error(&b, EMBER_EPARSE), "location 2 has id 0");
  pb_free(&b);
}

static void test_pprof_limits_what_unpacking_may_allocate(void **state) {
  /* 3 million empty lines in one location: 6 MB of input that protobuf-c
   * would turn into some 150 MB of structs. */
  size_t nlines = 3000000;
  ember_buf_t loc = EMBER_BUF_INIT;
  ember_buf_append(&loc, "\x08\x01", 2);
  for (size_t i = 0; i < nlines; i++) ember_buf_append(&loc, "\x22\x00", 2);
  ember_buf_t body = EMBER_BUF_INIT;
  ember_buf_putc(&body, 0x22);
  ember_varint_put(&body, loc.len);
  ember_buf_append(&body, loc.data, loc.len);
  ember_err_t err;
  pprof_doc_t d;
  assert_int_equal(pprof_doc_open(&d, "profile", (uint8_t *)body.data, body.len,
                                  limits(SIZE_MAX), &err),
                   EMBER_ETOOBIG);
  assert_contains(err.msg, "too many elements for its size to be unpacked");
  ember_buf_free(&loc);
  ember_buf_free(&body);
}

static void test_pprof_close_accepts_null_and_empty(void **state) {
  pprof_doc_close(NULL);
  pprof_doc_t d;
  memset(&d, 0, sizeof d);
  pprof_doc_close(&d);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pprof_stacks_are_root_first),
      cmocka_unit_test(test_pprof_expands_inlined_frames_caller_first),
      cmocka_unit_test(test_pprof_names_frames_without_function_names),
      cmocka_unit_test(test_pprof_finds_ids_in_any_order),
      cmocka_unit_test(test_pprof_reads_gzipped_profiles),
      cmocka_unit_test(test_pprof_cuts_deep_stacks_keeping_the_frames_nearest_the_root),
      cmocka_unit_test(test_pprof_expands_an_inline_fan_out_only_as_deep_as_it_keeps),
      cmocka_unit_test(test_pprof_measures_each_string_once),
      cmocka_unit_test(test_pprof_takes_inflated_and_unpacked_bytes_from_the_budget),
      cmocka_unit_test(test_pprof_refuses_bytes_that_are_not_a_profile),
      cmocka_unit_test(test_pprof_refuses_truncated_gzip),
      cmocka_unit_test(test_pprof_refuses_gzip_that_inflates_past_the_limit),
      cmocka_unit_test(test_pprof_refuses_strings_out_of_range),
      cmocka_unit_test(test_pprof_refuses_references_to_missing_elements),
      cmocka_unit_test(test_pprof_refuses_samples_at_missing_locations),
      cmocka_unit_test(test_pprof_refuses_duplicate_and_zero_ids),
      cmocka_unit_test(test_pprof_limits_what_unpacking_may_allocate),
      cmocka_unit_test(test_pprof_close_accepts_null_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
