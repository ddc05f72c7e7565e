/* Tests for src/ingest/multipart.c: multipart/form-data as agents send it
 * (CRLF or LF, quoted boundaries, preambles), and the ways a form can be
 * cut off or malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_int.h"

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

static ingest_form_t parse_ok(const char *ct, const void *body, size_t len) {
  ingest_form_t f;
  ember_err_t err;
  if (ingest_multipart_parse(ct, body, len, &f, &err)) fail_msg("%s", err.msg);
  return f;
}

static const char *parse_error(const char *ct, const char *body) {
  static ember_err_t err;
  ingest_form_t f = {(ingest_part_t *)&f, 77};
  int rc = ingest_multipart_parse(ct, (const uint8_t *)body, strlen(body), &f, &err);
  if (rc != EMBER_EPARSE) fail_msg("gave %d (%s), want EMBER_EPARSE", rc, err.msg);
  assert_int_equal(f.n, 77); /* untouched */
  return err.msg;
}

/* "name=content" for each part, ';'-separated. Static buffer. */
static const char *fields(const ingest_form_t *f) {
  static char out[1024];
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < f->n; i++)
    o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s=%.*s", i ? ";" : "",
                          (int)f->parts[i].name.len, f->parts[i].name.base,
                          (int)f->parts[i].len, (const char *)f->parts[i].data);
  return out;
}

static const char *parse_fields(const char *ct, const char *body) {
  ingest_form_t f = parse_ok(ct, body, strlen(body));
  const char *s = fields(&f);
  ingest_form_free(&f);
  return s;
}

#define CT "multipart/form-data; boundary=B0undary"

static void test_multipart_reads_fields_with_crlf(void **state) {
  const char *body = "--B0undary\r\n"
                     "Content-Disposition: form-data; name=\"profile\"; "
                     "filename=\"profile.pprof\"\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "\r\n"
                     "PPROF\r\n"
                     "--B0undary\r\n"
                     "Content-Disposition: form-data; name=\"sample_type_config\"\r\n"
                     "\r\n"
                     "{}\r\n"
                     "--B0undary--\r\n";
  ingest_form_t f = parse_ok(CT, body, strlen(body));
  assert_string_equal(fields(&f), "profile=PPROF;sample_type_config={}");
  const ingest_part_t *p = ingest_form_get(&f, "profile");
  assert_non_null(p);
  assert_int_equal(p->len, 5);
  assert_null(ingest_form_get(&f, "prev_profile"));
  ingest_form_free(&f);
}

static void test_multipart_reads_fields_with_bare_lf(void **state) {
  assert_string_equal(parse_fields(CT, "--B0undary\n"
                                       "content-disposition: form-data; name=a\n"
                                       "\n"
                                       "1\n"
                                       "--B0undary\n"
                                       "CONTENT-DISPOSITION: form-data; name=\"b\"\n"
                                       "\n"
                                       "two\nlines\n"
                                       "--B0undary--"),
                      "a=1;b=two\nlines");
}

static void test_multipart_keeps_binary_content_exactly(void **state) {
  /* CR, LF, NUL and a near-boundary inside the content are data. */
  static const char body[] = "--B0undary\r\nContent-Disposition: form-data; name=\"p\"\r\n"
                             "\r\n\x1f\x8b\0\r\n--B0und\r\r\n\r\n--B0undary--\r\n";
  ingest_form_t f = parse_ok(CT, body, sizeof body - 1);
  assert_int_equal(f.n, 1);
  assert_int_equal(f.parts[0].len, 15);
  assert_memory_equal(f.parts[0].data, "\x1f\x8b\0\r\n--B0und\r\r\n", 15);
  ingest_form_free(&f);
}

static void test_multipart_accepts_quoted_boundaries_and_parameters(void **state) {
  assert_string_equal(
      parse_fields("Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a b;c\"",
                   "--a b;c\r\nContent-Disposition: form-data; filename=\"name=x\"; "
                   "name=\"real\"\r\n\r\nv\r\n--a b;c--\r\n"),
      "real=v");
  assert_true(ingest_is_multipart("multipart/form-data"));
  assert_true(ingest_is_multipart(" MULTIPART/FORM-DATA ; boundary=x"));
  assert_false(ingest_is_multipart("multipart/mixed; boundary=x"));
  assert_false(ingest_is_multipart("application/octet-stream"));
  assert_false(ingest_is_multipart(NULL));
}

static void test_multipart_skips_preamble_epilogue_and_padding(void **state) {
  assert_string_equal(parse_fields(CT, "This is a preamble.\r\n"
                                       "--B0undary  \t\r\n"
                                       "Content-Disposition: form-data; name=x\r\n"
                                       "\r\n"
                                       "1\r\n"
                                       "--B0undary--\r\n"
                                       "epilogue, ignored\r\n"),
                      "x=1");
}

static void test_multipart_reads_empty_parts_and_forms(void **state) {
  assert_string_equal(parse_fields(CT, "--B0undary\r\n"
                                       "Content-Disposition: form-data; name=e\r\n"
                                       "\r\n"
                                       "\r\n"
                                       "--B0undary\n"
                                       "Content-Disposition: form-data; name=f\n"
                                       "\n"
                                       "--B0undary--"),
                      "e=;f=");
  assert_string_equal(parse_fields(CT, "--B0undary--\r\n"), "");
}

static void test_multipart_refuses_a_missing_boundary_parameter(void **state) {
  assert_string_equal(parse_error("multipart/form-data", "--x\r\n"),
                      "multipart body: the Content-Type has no boundary parameter; "
                      "send 'multipart/form-data; boundary=...'");
  assert_contains(parse_error("multipart/form-data; boundary=", "--x\r\n"),
                  "no boundary parameter");
  assert_contains(parse_error("multipart/form-data; boundary=\"\"", "--x\r\n"),
                  "no boundary parameter");
  char ct[200];
  snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 0);
  assert_contains(parse_error(ct, "--x\r\n"), "is 71 characters long; use at most 70");
}

static void test_multipart_refuses_a_body_without_its_boundary(void **state) {
  assert_string_equal(parse_error(CT, "just some bytes"),
                      "multipart body: the boundary '--B0undary' named in the "
                      "Content-Type never appears; check the boundary");
  assert_contains(parse_error(CT, ""), "never appears");
}

static void test_multipart_refuses_a_missing_closing_boundary(void **state) {
  assert_string_equal(parse_error(CT, "--B0undary\r\n"
                                      "Content-Disposition: form-data; name=\"profile\"\r\n"
                                      "\r\n"
                                      "PPROF, cut off"),
                      "multipart body: part 1 ('profile') is not followed by a "
                      "boundary; the body ends without the closing '--B0undary--', "
                      "send the complete form");
  assert_contains(parse_error(CT, "--B0undary\r\n"
                                  "Content-Disposition: form-data; name=a\r\n\r\n1\r\n"
                                  "--B0undary"),
                  "ends right after a boundary without the closing '--'");
  assert_contains(parse_error(CT, "--B0undary\r\n"
                                  "Content-Disposition: form-data; name=a\r\n"),
                  "the headers of part 1 do not end with an empty line");
}

static void test_multipart_refuses_parts_without_a_name(void **state) {
  assert_string_equal(parse_error(CT, "--B0undary\r\n"
                                      "Content-Type: text/plain\r\n\r\nx\r\n"
                                      "--B0undary--\r\n"),
                      "multipart body: part 1 has no name; each part needs "
                      "'Content-Disposition: form-data; name=\"...\"'");
  assert_contains(parse_error(CT, "--B0undary\r\n"
                                  "Content-Disposition: form-data; name=a\r\n\r\nx\r\n"
                                  "--B0undary\r\n"
                                  "Content-Disposition: form-data; name=\"\"\r\n\r\nx\r\n"
                                  "--B0undary--\r\n"),
                  "part 2 has no name");
}

static void test_multipart_refuses_junk_after_a_boundary(void **state) {
  assert_contains(parse_error(CT, "--B0undaryX\r\n"), "unexpected bytes after boundary 1");
}

static void test_multipart_free_accepts_null_and_empty(void **state) {
  ingest_form_free(NULL);
  ingest_form_t f = {NULL, 0};
  ingest_form_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_multipart_reads_fields_with_crlf),
      cmocka_unit_test(test_multipart_reads_fields_with_bare_lf),
      cmocka_unit_test(test_multipart_keeps_binary_content_exactly),
      cmocka_unit_test(test_multipart_accepts_quoted_boundaries_and_parameters),
      cmocka_unit_test(test_multipart_skips_preamble_epilogue_and_padding),
      cmocka_unit_test(test_multipart_reads_empty_parts_and_forms),
      cmocka_unit_test(test_multipart_refuses_a_missing_boundary_parameter),
      cmocka_unit_test(test_multipart_refuses_a_body_without_its_boundary),
      cmocka_unit_test(test_multipart_refuses_a_missing_closing_boundary),
      cmocka_unit_test(test_multipart_refuses_parts_without_a_name),
      cmocka_unit_test(test_multipart_refuses_junk_after_a_boundary),
      cmocka_unit_test(test_multipart_free_accepts_null_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
