/* Tests for src/profile/series.c: series keys, label strings and FlameQL
 * selectors (parsing, errors, matching, formatting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ember/series.h"

/* ---- Helpers ----------------------------------------------------------- */

static int key_parse(const char *s, ember_series_key_t *k, ember_err_t *err) {
  return ember_series_key_parse(s, strlen(s), k, err);
}

/* Parses s, which must succeed, and returns its formatted form (static). */
static const char *key_roundtrip(const char *s) {
  static char out[256];
  ember_series_key_t k;
  ember_err_t err;
  int rc = key_parse(s, &k, &err);
  if (rc) fail_msg("parse of '%s' failed: %s", s, err.msg);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_series_key_format(&k, &b);
  snprintf(out, sizeof out, "%s", b.data);
  ember_buf_free(&b);
  ember_series_key_free(&k);
  return out;
}

/* Parses s, which must fail with code; returns the message (static). */
static const char *key_error(const char *s, int code) {
  static ember_err_t err;
  ember_series_key_t k;
  memset(&k, 0x5a, sizeof k);
  int rc = key_parse(s, &k, &err);
  if (rc != code) fail_msg("parse of '%s' gave %d, want %d", s, rc, code);
  assert_null(k.app);
  assert_int_equal(k.nlabels, 0);
  return err.msg;
}

static int sel_parse(const char *s, ember_selector_t *sel, ember_err_t *err) {
  return ember_selector_parse(s, strlen(s), sel, err);
}

static const char *sel_roundtrip(const char *s) {
  static char out[256];
  ember_selector_t sel;
  ember_err_t err;
  int rc = sel_parse(s, &sel, &err);
  if (rc) fail_msg("parse of '%s' failed: %s", s, err.msg);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_selector_format(&sel, &b);
  snprintf(out, sizeof out, "%s", b.data);
  ember_buf_free(&b);
  ember_selector_free(&sel);
  return out;
}

static const char *sel_error(const char *s) {
  static ember_err_t err;
  ember_selector_t sel;
  int rc = sel_parse(s, &sel, &err);
  if (rc != EMBER_EINVAL) fail_msg("parse of '%s' gave %d, want EINVAL", s, rc);
  assert_null(sel.app);
  assert_int_equal(sel.n, 0);
  return err.msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* Does the selector s match the label set given as "k=v,k2=v2"? */
static bool matches(const char *s, const char *labels) {
  ember_selector_t sel;
  ember_err_t err;
  ember_series_key_t k = {0};
  if (sel_parse(s, &sel, &err)) fail_msg("parse of '%s' failed: %s", s, err.msg);
  if (ember_series_key_parse_labels(labels, strlen(labels), &k, &err))
    fail_msg("labels '%s': %s", labels, err.msg);
  bool m = ember_selector_match(&sel, k.labels, k.nlabels);
  ember_selector_free(&sel);
  ember_series_key_free(&k);
  return m;
}

/* ---- Series keys ------------------------------------------------------- */

static void test_series_key_parses_app_and_sorted_labels(void **state) {
  ember_series_key_t k;
  ember_err_t err;
  assert_int_equal(key_parse("app.cpu{vehicle=car,region=eu-north}", &k, &err), 0);
  assert_string_equal(k.app, "app.cpu");
  assert_int_equal(k.nlabels, 2);
  assert_string_equal(k.labels[0].key, "region");
  assert_string_equal(k.labels[0].value, "eu-north");
  assert_string_equal(k.labels[1].key, "vehicle");
  assert_string_equal(k.labels[1].value, "car");
  ember_buf_t b = EMBER_BUF_INIT;
  ember_series_key_labels(&k, &b);
  assert_string_equal(b.data, "region=eu-north,vehicle=car");
  ember_buf_free(&b);
  ember_series_key_free(&k);
}

static void test_series_key_label_order_does_not_matter(void **state) {
  assert_string_equal(key_roundtrip("a{b=2,a=1}"), "a{a=1,b=2}");
  assert_string_equal(key_roundtrip("a{a=1,b=2}"), "a{a=1,b=2}");
}

static void test_series_key_braces_are_optional(void **state) {
  assert_string_equal(key_roundtrip("my-app_1.cpu"), "my-app_1.cpu{}");
  assert_string_equal(key_roundtrip("my-app_1.cpu{}"), "my-app_1.cpu{}");
  assert_string_equal(key_roundtrip("app{ }"), "app{}");
}

static void test_series_key_trims_spaces_around_keys_and_values(void **state) {
  assert_string_equal(key_roundtrip("  app { a = 1 , b= x y }  "), "app{a=1,b=x y}");
}

static void test_series_key_accepts_empty_value_and_trailing_comma(void **state) {
  assert_string_equal(key_roundtrip("app{a=,b=2,}"), "app{a=,b=2}");
}

static void test_series_key_accepts_dotted_keys_and_odd_values(void **state) {
  assert_string_equal(key_roundtrip("app{process.runtime.name=go,x=a=b{c}"),
                      "app{process.runtime.name=go,x=a=b{c}");
  /* UTF-8 is fine in values. */
  assert_string_equal(key_roundtrip("app{city=K\xc3\xb8"
                                    "benhavn}"),
                      "app{city=K\xc3\xb8"
                      "benhavn}");
}

static void test_series_key_rejects_missing_closing_brace(void **state) {
  assert_contains(key_error("app{a=1", EMBER_EINVAL), "no closing '}'");
}

static void test_series_key_rejects_text_after_brace(void **state) {
  assert_string_equal(key_error("app{a=1}x}", EMBER_EINVAL),
                      "name: unexpected 'x}' after '}'; nothing may follow the label "
                      "list");
}

static void test_series_key_rejects_empty_label_between_commas(void **state) {
  assert_contains(key_error("app{a=1,,b=2}", EMBER_EINVAL), "empty label before ','");
  assert_contains(key_error("app{,}", EMBER_EINVAL), "empty label before ','");
}

static void test_series_key_rejects_label_without_equals(void **state) {
  assert_string_equal(key_error("app{region}", EMBER_EINVAL),
                      "name: label 'region' has no '='; write key=value");
}

static void test_series_key_rejects_bad_key_characters(void **state) {
  assert_string_equal(key_error("app{re gion=eu}", EMBER_EINVAL),
                      "name: label key 're gion' has invalid character ' '; keys may "
                      "contain only letters, digits, '_' and '.'");
  assert_contains(key_error("app{a-b=1}", EMBER_EINVAL), "invalid character '-'");
  assert_contains(key_error("app{=1}", EMBER_EINVAL), "empty key");
}

static void test_series_key_rejects_reserved_name_label(void **state) {
  assert_contains(key_error("app{__name__=x}", EMBER_EINVAL),
                  "'__name__' is reserved for the app name");
}

static void test_series_key_rejects_repeated_key(void **state) {
  assert_string_equal(key_error("app{a=1,b=2,a=3}", EMBER_EINVAL),
                      "name: label key 'a' appears twice; give each key one value");
}

static void test_series_key_rejects_label_with_newline(void **state) {
  assert_string_equal(key_error("app{a=x\ny}", EMBER_EINVAL),
                      "name: the value of label 'a' has invalid character '\\x0a'; "
                      "values may not contain control characters, ',' or '}'");
}

static void test_series_key_rejects_bad_app_name_with_curl_hint(void **state) {
  /* What curl sends for name=app.cpu{region=eu} without -g. */
  const char *msg = key_error("app.cpuregion=eu", EMBER_EINVAL);
  assert_string_equal(msg, "name: app name 'app.cpuregion=eu' has invalid character "
                           "'=' at position 14; app names may contain only letters, "
                           "digits, '_', '.' and '-' (if you sent it with curl: curl "
                           "expands {...} in URLs unless given -g/--globoff)");
  /* With braces present, curl was not the problem: no hint. */
  msg = key_error("my app{a=1}", EMBER_EINVAL);
  assert_contains(msg, "invalid character ' ' at position 3");
  assert_null(strstr(msg, "curl"));
}

static void test_series_key_rejects_missing_app_name(void **state) {
  assert_contains(key_error("{a=1}", EMBER_EINVAL), "the app name is missing");
  assert_contains(key_error("", EMBER_EINVAL), "the app name is missing");
  assert_contains(key_error("   ", EMBER_EINVAL), "the app name is missing");
}

static void test_series_key_error_quotes_are_escaped_and_short(void **state) {
  char long_name[300];
  memset(long_name, 'a', sizeof long_name);
  long_name[0] = '\x01';
  long_name[sizeof long_name - 1] = '\0';
  const char *msg = key_error(long_name, EMBER_EINVAL);
  assert_contains(msg, "'\\x01aaa");
  assert_contains(msg, "...'");
  assert_true(strlen(msg) < 300);
}

static void test_series_key_parse_respects_length(void **state) {
  ember_series_key_t k;
  /* Only the first 3 bytes count; the rest is not even looked at. */
  assert_int_equal(ember_series_key_parse("app{a=1}", 3, &k, NULL), 0);
  assert_string_equal(k.app, "app");
  assert_int_equal(k.nlabels, 0);
  ember_series_key_free(&k);
}

static void test_series_key_set_inserts_sorted_and_replaces(void **state) {
  ember_series_key_t k = {0};
  k.app = strdup("app");
  assert_int_equal(ember_series_key_set(&k, "m", 1, "1", 1, NULL), 0);
  assert_int_equal(ember_series_key_set(&k, "z", 1, "2", 1, NULL), 0);
  assert_int_equal(ember_series_key_set(&k, "a", 1, "3", 1, NULL), 0);
  assert_int_equal(ember_series_key_set(&k, "m", 1, " new ", 5, NULL), 0);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_series_key_format(&k, &b);
  assert_string_equal(b.data, "app{a=3,m=new,z=2}");
  ember_buf_free(&b);
  ember_series_key_free(&k);
}

static void test_series_key_set_rejects_invalid_labels(void **state) {
  ember_series_key_t k = {0};
  ember_err_t err;
  assert_int_equal(ember_series_key_set(&k, "a b", 3, "1", 1, &err), EMBER_EINVAL);
  assert_contains(err.msg, "label key 'a b' has invalid character ' '");
  assert_int_equal(ember_series_key_set(&k, "a", 1, "x,y", 3, &err), EMBER_EINVAL);
  assert_contains(err.msg, "invalid character ','");
  assert_int_equal(ember_series_key_set(&k, "__name__", 8, "x", 1, &err), EMBER_EINVAL);
  assert_int_equal(k.nlabels, 0);
  ember_series_key_free(&k);
}

static void test_series_key_copy_is_deep(void **state) {
  ember_series_key_t a, b;
  assert_int_equal(key_parse("app{x=1,y=2}", &a, NULL), 0);
  ember_series_key_copy(&b, &a);
  ember_series_key_free(&a);
  assert_string_equal(b.app, "app");
  assert_int_equal(b.nlabels, 2);
  assert_string_equal(b.labels[1].value, "2");
  assert_int_equal(ember_series_key_set(&b, "w", 1, "0", 1, NULL), 0);
  assert_int_equal(b.nlabels, 3);
  ember_series_key_free(&b);
}

static void test_series_key_free_accepts_null_and_empty(void **state) {
  ember_series_key_free(NULL);
  ember_series_key_t k = {0};
  ember_series_key_free(&k);
  ember_series_key_free(&k);
}

static void test_series_key_labels_roundtrip_through_parse_labels(void **state) {
  ember_series_key_t k, back = {0};
  assert_int_equal(key_parse("app{z= 9,a=x y,m=}", &k, NULL), 0);
  ember_buf_t b = EMBER_BUF_INIT;
  ember_series_key_labels(&k, &b);
  assert_string_equal(b.data, "a=x y,m=,z=9");
  assert_int_equal(ember_series_key_parse_labels(b.data, b.len, &back, NULL), 0);
  assert_null(back.app);
  assert_int_equal(back.nlabels, 3);
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(back.labels[i].key, k.labels[i].key);
    assert_string_equal(back.labels[i].value, k.labels[i].value);
  }
  /* An empty string is the empty label set and replaces what was there. */
  assert_int_equal(ember_series_key_parse_labels("", 0, &back, NULL), 0);
  assert_int_equal(back.nlabels, 0);
  ember_buf_free(&b);
  ember_series_key_free(&k);
  ember_series_key_free(&back);
}

static void test_series_key_parse_labels_rejects_malformed_and_keeps_key(void **state) {
  ember_series_key_t k = {0};
  ember_err_t err;
  assert_int_equal(ember_series_key_parse_labels("a=1", 3, &k, NULL), 0);
  static const char *bad[] = {"a", "a=1,", "a=1,a=2", ",a=1", "a b=1", "a=\x01"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(ember_series_key_parse_labels(bad[i], strlen(bad[i]), &k, &err),
                     EMBER_EPARSE);
    assert_contains(err.msg, "stored label set: ");
    assert_int_equal(k.nlabels, 1);
    assert_string_equal(k.labels[0].value, "1");
  }
  ember_series_key_free(&k);
}

static void test_series_validity_predicates(void **state) {
  assert_true(ember_app_name_valid("a-b_c.d9", 8));
  assert_false(ember_app_name_valid("", 0));
  assert_false(ember_app_name_valid("a{", 2));
  assert_true(ember_label_key_valid("a.b_c", 5));
  assert_false(ember_label_key_valid("a-b", 3));
  assert_false(ember_label_key_valid("", 0));
  assert_true(ember_label_value_valid("", 0));
  assert_true(ember_label_value_valid("x = {y \xc3\xa9", 9));
  assert_false(ember_label_value_valid("a,b", 3));
  assert_false(ember_label_value_valid("a}", 2));
  assert_false(ember_label_value_valid("a\x7f", 2));
  assert_false(ember_label_value_valid("a\0", 2));
}

/* ---- Selectors --------------------------------------------------------- */

static void test_selector_parses_every_operator(void **state) {
  ember_selector_t sel;
  assert_int_equal(sel_parse("app.cpu{region=\"eu-north\",vehicle!=\"car\","
                             "pod=~\"web-.*\",host!~\"test.+\"}",
                             &sel, NULL),
                   0);
  assert_string_equal(sel.app, "app.cpu");
  assert_int_equal(sel.n, 4);
  assert_int_equal(sel.matchers[0].op, EMBER_MATCH_EQ);
  assert_string_equal(sel.matchers[0].key, "region");
  assert_string_equal(sel.matchers[0].value, "eu-north");
  assert_null(sel.matchers[0].re);
  assert_int_equal(sel.matchers[1].op, EMBER_MATCH_NEQ);
  assert_int_equal(sel.matchers[2].op, EMBER_MATCH_RE);
  assert_non_null(sel.matchers[2].re);
  assert_int_equal(sel.matchers[3].op, EMBER_MATCH_NRE);
  assert_string_equal(sel.matchers[3].value, "test.+");
  ember_selector_free(&sel);
}

static void
test_selector_allows_whitespace_empty_braces_and_trailing_comma(void **state) {
  assert_string_equal(sel_roundtrip(" app.cpu { a = \"1\" ,\tb =~ \"x\" , } "),
                      "app.cpu{a=\"1\",b=~\"x\"}");
  assert_string_equal(sel_roundtrip("app.cpu{}"), "app.cpu{}");
  assert_string_equal(sel_roundtrip("app.cpu"), "app.cpu{}");
  assert_string_equal(sel_roundtrip("app.cpu { }"), "app.cpu{}");
}

static void test_selector_values_may_hold_quotes_commas_and_braces(void **state) {
  ember_selector_t sel;
  assert_int_equal(sel_parse("a{k=\"x\\\"y,}\\\\z\",r=~\"a{2,3}\"}", &sel, NULL), 0);
  assert_string_equal(sel.matchers[0].value, "x\"y,}\\z");
  assert_string_equal(sel.matchers[1].value, "a{2,3}");
  ember_selector_free(&sel);
  /* Formatting escapes again, so the text parses back to the same values. */
  const char *f = sel_roundtrip("a{k=\"x\\\"y,}\\\\z\"}");
  assert_string_equal(f, "a{k=\"x\\\"y,}\\\\z\"}");
  assert_string_equal(sel_roundtrip(f), f);
}

static void test_selector_keeps_other_backslashes_for_regexes(void **state) {
  ember_selector_t sel;
  assert_int_equal(sel_parse("a{h=~\"web\\.1\"}", &sel, NULL), 0);
  assert_string_equal(sel.matchers[0].value, "web\\.1");
  ember_selector_free(&sel);
  assert_true(matches("a{h=~\"web\\.1\"}", "h=web.1"));
  assert_false(matches("a{h=~\"web\\.1\"}", "h=webx1"));
}

static void test_selector_rejects_unquoted_value_with_position(void **state) {
  assert_string_equal(sel_error("app.cpu{region=eu}"),
                      "query: expected '\"' after '=' at position 16 in "
                      "'app.cpu{region=eu}'; quote label values, e.g. region=\"eu\"");
  assert_contains(sel_error("app.cpu{region!=eu}"), "expected '\"' after '!='");
}

static void test_selector_rejects_missing_operator(void **state) {
  assert_string_equal(sel_error("a{region \"eu\"}"),
                      "query: expected one of = != =~ !~ after the label name at "
                      "position 10 in 'a{region \"eu\"}'");
  assert_contains(sel_error("a{region"), "expected one of = != =~ !~");
  assert_contains(sel_error("a{region=~"), "expected '\"' after '=~'");
}

static void test_selector_rejects_unterminated_string(void **state) {
  assert_string_equal(sel_error("a{k=\"abc}"),
                      "query: expected a closing '\"' for the value that starts at "
                      "position 5 in 'a{k=\"abc}'");
  assert_contains(sel_error("a{k=\"abc\\\"}"), "closing '\"'");
}

static void test_selector_rejects_missing_comma_or_brace(void **state) {
  assert_contains(sel_error("a{k=\"1\" j=\"2\"}"),
                  "expected ',' or '}' after the label matcher at position 9");
  assert_contains(sel_error("a{k=\"1\""), "expected ',' or '}'");
  assert_contains(sel_error("a{k=\"1\","), "expected a label name at position 9");
}

static void test_selector_rejects_empty_or_bad_label_names(void **state) {
  assert_contains(sel_error("a{,}"), "expected a label name at position 3");
  assert_contains(sel_error("a{k-1=\"x\"}"), "expected one of = != =~ !~");
  assert_contains(sel_error("a{__name__=\"x\"}"),
                  "expected a label name other than __name__ at position 3");
}

static void test_selector_rejects_text_after_brace(void **state) {
  assert_contains(sel_error("a{} b"), "expected the end of the query after '}' at "
                                      "position 5");
  assert_contains(sel_error("a{}}"), "at position 4");
}

static void test_selector_rejects_control_character_in_value(void **state) {
  assert_contains(sel_error("a{k=\"x\ny\"}"), "control characters");
}

static void test_selector_rejects_bad_app_name_with_curl_hint(void **state) {
  const char *msg = sel_error("app.cpuregion=\"eu\"");
  assert_contains(msg, "query: app name 'app.cpuregion=\"eu\"' has invalid character "
                       "'=' at position 14");
  assert_contains(msg, "-g/--globoff");
  msg = sel_error("app cpu{}");
  assert_contains(msg, "app name 'app cpu' has invalid character ' ' at position 4");
  assert_null(strstr(msg, "curl"));
  assert_contains(sel_error("{a=\"b\"}"), "the app name is missing in '{a=\"b\"}'; "
                                          "start with it, e.g. myapp.cpu{region=\"eu\"}");
  assert_contains(sel_error(""), "the app name is missing");
}

static void test_selector_rejects_invalid_regex_naming_the_label(void **state) {
  const char *msg = sel_error("a{pod=~\"web-(\"}");
  assert_contains(msg, "query: invalid regular expression \"web-(\" for label 'pod': ");
  assert_contains(msg, "missing )");
  assert_contains(msg, "write an RE2 regular expression");
  assert_contains(sel_error("a{pod!~\"[z-a]\"}"), "for label 'pod'");
}

static void test_selector_rejects_regex_that_escapes_its_anchors(void **state) {
  /* Pasted into ^(...)$ this would match anything starting with a; the
   * whole-value match has no text to escape from, so it is just invalid. */
  assert_contains(sel_error("a{k=~\"a)|(b\"}"), "invalid regular expression");
  assert_false(matches("a{k=~\"[)]\"}", "k=x"));
  assert_true(matches("a{k=~\"[)]\"}", "k=)"));
  assert_true(matches("a{k=~\"\\)\"}", "k=)"));
  assert_true(matches("a{k=~\"(x)(y)\"}", "k=xy"));
}

static void test_selector_rejects_back_references(void **state) {
  assert_contains(sel_error("a{k=~\"(a)\\1\"}"), "invalid escape sequence");
}

static void test_selector_regexes_use_re2_syntax(void **state) {
  assert_true(matches("a{k=~\"web-\\d+\"}", "k=web-12"));
  assert_false(matches("a{k=~\"web-\\d+\"}", "k=web-x"));
  assert_true(matches("a{k=~\"(?i)WEB-.*\"}", "k=web-1"));
  assert_true(matches("a{k=~\"(?:eu|us)-[[:alpha:]]+\"}", "k=eu-north"));
  assert_true(matches("a{k=~\"\\pL+\"}", "k=\xc3\xa9t\xc3\xa9"));
  assert_true(matches("a{k=~\"a{2,3}\"}", "k=aaa"));
  assert_false(matches("a{k=~\"a{2,3}\"}", "k=aaaa"));
  /* A '{' that starts no repetition is literal, as in Prometheus. */
  assert_true(matches("a{k=~\"a{\"}", "k=a{"));
  assert_true(matches("a{k=~\"[{9999}]+\"}", "k=9{9"));
  /* Operators Go's and RE2's syntax refuse are refused. */
  assert_contains(sel_error("a{k=~\"a**\"}"), "bad repetition operator");
  assert_contains(sel_error("a{k=~\"a++\"}"), "bad repetition operator");
}

static void test_selector_accepts_nested_stars_in_linear_time(void **state) {
  /* Backtracking and POSIX engines take exponential time on these; RE2
   * takes them in its stride, so there is no reason to refuse them. */
  static const char *nested[] = {"(a*)*", "(a|b*)*",   "(x?)+", "(^)*",
                                 "()*",   "(a*b*){2}", "(|a)+", "((a+)+)+b"};
  char q[64];
  for (size_t i = 0; i < sizeof nested / sizeof *nested; i++) {
    ember_selector_t sel;
    snprintf(q, sizeof q, "a{k=~\"%s\"}", nested[i]);
    if (sel_parse(q, &sel, NULL)) fail_msg("'%s' was refused", q);
    ember_selector_free(&sel);
  }
  char labels[128] = "k=";
  memset(labels + 2, 'a', 100);
  labels[102] = '\0';
  uint64_t t0 = ember_mono_ns();
  assert_false(matches("a{k=~\"((a+)+)+b\"}", labels));
  assert_true(ember_mono_ns() - t0 < 1000000000u);
}

static void test_selector_refuses_huge_repeats_with_a_message(void **state) {
  /* glibc took 1.58 GB to compile the first one. */
  static const char *huge[] = {"a{0,9999}",       "(a{0,999}){0,999}",
                               "(a{1000}){1000}", "((a{100}){100}){100}",
                               "(a{1000,}){2}",   "x{1001}"};
  char q[64];
  for (size_t i = 0; i < sizeof huge / sizeof *huge; i++) {
    snprintf(q, sizeof q, "a{k=~\"%s\"}", huge[i]);
    const char *msg = sel_error(q);
    assert_contains(msg, "the regular expression for label 'k' repeats too much");
    assert_contains(msg, "at most 1000");
  }
  /* Many repetitions one after the other do not multiply. */
  assert_true(matches("a{k=~\"([a-z]+-[0-9]+-){1,20}[a-z]+[0-9]*\"}", "k=ab-12-c-3-x9"));
  ember_selector_t sel;
  assert_int_equal(
      sel_parse("a{ip=~\"[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\","
                "c=~\"[[:alpha:]]{2}\",d=~\"a{0,1000}\"}",
                &sel, NULL),
      0);
  ember_selector_free(&sel);
}

static void test_selector_refuses_regex_too_large_once_compiled(void **state) {
  /* Within the repeat limit, but every letter of Unicode a thousand times. */
  const char *msg = sel_error("a{k=~\"\\pL{1000}\"}");
  assert_contains(msg, "the regular expression for label 'k' is too large once "
                       "compiled (over 2048 KiB");
  char big[1100];
  memcpy(big, "a{k=~\"", 6);
  memset(big + 6, 'x', 1030);
  memcpy(big + 1036, "\"}", 3);
  assert_contains(sel_error(big), "longer than 1024 bytes");
}

/* "a{k0=~"re",k1=~"re",...}" with n matchers of re into buf. */
static const char *many(char *buf, size_t size, size_t n, const char *re) {
  size_t at = (size_t)snprintf(buf, size, "a{");
  for (size_t i = 0; i < n; i++)
    at += (size_t)snprintf(buf + at, size - at, "%sk%zu=~\"%s\"", i ? "," : "", i, re);
  snprintf(buf + at, size - at, "}");
  return buf;
}

static void test_selector_limits_the_number_of_regex_matchers(void **state) {
  char q[4096];
  ember_selector_t sel;
  assert_int_equal(
      sel_parse(many(q, sizeof q, EMBER_SELECTOR_REGEX_MAX, "x.*"), &sel, NULL), 0);
  ember_selector_free(&sel);
  const char *msg = sel_error(many(q, sizeof q, EMBER_SELECTOR_REGEX_MAX + 1, "x.*"));
  assert_contains(msg, "17 regular expression matchers (=~ or !~) in one selector, "
                       "the limit is 16");
  /* Equality matchers do not count. */
  many(q, sizeof q, EMBER_SELECTOR_REGEX_MAX, "x");
  strcpy(q + strlen(q) - 1, ",e=\"1\",f!=\"2\"}");
  assert_int_equal(sel_parse(q, &sel, NULL), 0);
  assert_int_equal(sel.n, EMBER_SELECTOR_REGEX_MAX + 2);
  ember_selector_free(&sel);
}

static void test_selector_regexes_share_one_memory_budget(void **state) {
  /* Fifty letters of any script compile to about 60,000 instructions:
   * within one matcher's 2 MiB, not within a sixteenth of the selector's
   * 8 MiB. */
  char q[4096];
  ember_selector_t sel;
  assert_int_equal(sel_parse("a{k=~\"\\pL{50}\"}", &sel, NULL), 0);
  ember_selector_free(&sel);
  assert_int_equal(sel_parse(many(q, sizeof q, 4, "\\pL{50}"), &sel, NULL), 0);
  ember_selector_free(&sel);
  const char *msg = sel_error(many(q, sizeof q, 16, "\\pL{50}"));
  assert_contains(msg, "is too large once compiled (over 512 KiB, the share of each "
                       "of the 16 in this selector)");
}

static void test_selector_equality_matches_exact_values(void **state) {
  assert_true(matches("a{region=\"eu\"}", "region=eu,x=1"));
  assert_false(matches("a{region=\"eu\"}", "region=eu-north"));
  assert_false(matches("a{region=\"eu\"}", "x=1"));
  assert_true(matches("a{}", ""));
  assert_true(matches("a", "region=eu"));
}

static void test_selector_absent_label_counts_as_empty(void **state) {
  assert_true(matches("a{k!=\"x\"}", "other=1"));
  assert_true(matches("a{k=\"\"}", "other=1"));
  assert_false(matches("a{k=\"\"}", "k=1"));
  assert_true(matches("a{k=\"\"}", "k="));
  assert_true(matches("a{k=~\"x|\"}", ""));
  assert_false(matches("a{k!~\".*\"}", "z=1"));
}

static void test_selector_regexes_are_anchored(void **state) {
  assert_true(matches("a{pod=~\"web-.*\"}", "pod=web-1"));
  assert_false(matches("a{pod=~\"web-.*\"}", "pod=xweb-1"));
  assert_false(matches("a{pod=~\"web\"}", "pod=web-1"));
  /* Alternation binds inside the anchors: ^(a|b)$, not ^a|b$. */
  assert_true(matches("a{k=~\"a|b\"}", "k=b"));
  assert_false(matches("a{k=~\"a|b\"}", "k=ab"));
  assert_false(matches("a{k=~\"a|b\"}", "k=xb"));
  assert_true(matches("a{host!~\"test.+\"}", "host=prod1"));
  assert_false(matches("a{host!~\"test.+\"}", "host=test1"));
  assert_true(matches("a{host!~\"test.+\"}", "host=test"));
}

static void test_selector_needs_every_matcher(void **state) {
  const char *q = "a{region=\"eu\",pod=~\"web-[0-9]+\",host!=\"bad\"}";
  assert_true(matches(q, "host=good,pod=web-12,region=eu"));
  assert_false(matches(q, "host=bad,pod=web-12,region=eu"));
  assert_false(matches(q, "host=good,pod=web-x,region=eu"));
  assert_false(matches(q, "host=good,pod=web-1,region=us"));
  /* The same key twice: both must hold. */
  assert_true(matches("a{k=~\"x.*\",k!=\"xy\"}", "k=xz"));
  assert_false(matches("a{k=~\"x.*\",k!=\"xy\"}", "k=xy"));
}

static void test_selector_match_finds_labels_in_many(void **state) {
  /* Binary search over a sorted set: every position must be findable. */
  char labels[512] = "";
  for (int i = 0; i < 20; i++)
    snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%sk%02d=v%d",
             i ? "," : "", i, i);
  char q[64];
  for (int i = 0; i < 20; i++) {
    snprintf(q, sizeof q, "a{k%02d=\"v%d\"}", i, i);
    assert_true(matches(q, labels));
    snprintf(q, sizeof q, "a{k%02d=\"v%d\"}", i, i + 1);
    assert_false(matches(q, labels));
  }
}

static void test_selector_free_accepts_null_and_empty(void **state) {
  ember_selector_free(NULL);
  ember_selector_t sel = {0};
  ember_selector_free(&sel);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_series_key_parses_app_and_sorted_labels),
      cmocka_unit_test(test_series_key_label_order_does_not_matter),
      cmocka_unit_test(test_series_key_braces_are_optional),
      cmocka_unit_test(test_series_key_trims_spaces_around_keys_and_values),
      cmocka_unit_test(test_series_key_accepts_empty_value_and_trailing_comma),
      cmocka_unit_test(test_series_key_accepts_dotted_keys_and_odd_values),
      cmocka_unit_test(test_series_key_rejects_missing_closing_brace),
      cmocka_unit_test(test_series_key_rejects_text_after_brace),
      cmocka_unit_test(test_series_key_rejects_empty_label_between_commas),
      cmocka_unit_test(test_series_key_rejects_label_without_equals),
      cmocka_unit_test(test_series_key_rejects_bad_key_characters),
      cmocka_unit_test(test_series_key_rejects_reserved_name_label),
      cmocka_unit_test(test_series_key_rejects_repeated_key),
      cmocka_unit_test(test_series_key_rejects_label_with_newline),
      cmocka_unit_test(test_series_key_rejects_bad_app_name_with_curl_hint),
      cmocka_unit_test(test_series_key_rejects_missing_app_name),
      cmocka_unit_test(test_series_key_error_quotes_are_escaped_and_short),
      cmocka_unit_test(test_series_key_parse_respects_length),
      cmocka_unit_test(test_series_key_set_inserts_sorted_and_replaces),
      cmocka_unit_test(test_series_key_set_rejects_invalid_labels),
      cmocka_unit_test(test_series_key_copy_is_deep),
      cmocka_unit_test(test_series_key_free_accepts_null_and_empty),
      cmocka_unit_test(test_series_key_labels_roundtrip_through_parse_labels),
      cmocka_unit_test(test_series_key_parse_labels_rejects_malformed_and_keeps_key),
      cmocka_unit_test(test_series_validity_predicates),
      cmocka_unit_test(test_selector_parses_every_operator),
      cmocka_unit_test(test_selector_allows_whitespace_empty_braces_and_trailing_comma),
      cmocka_unit_test(test_selector_values_may_hold_quotes_commas_and_braces),
      cmocka_unit_test(test_selector_keeps_other_backslashes_for_regexes),
      cmocka_unit_test(test_selector_rejects_unquoted_value_with_position),
      cmocka_unit_test(test_selector_rejects_missing_operator),
      cmocka_unit_test(test_selector_rejects_unterminated_string),
      cmocka_unit_test(test_selector_rejects_missing_comma_or_brace),
      cmocka_unit_test(test_selector_rejects_empty_or_bad_label_names),
      cmocka_unit_test(test_selector_rejects_text_after_brace),
      cmocka_unit_test(test_selector_rejects_control_character_in_value),
      cmocka_unit_test(test_selector_rejects_bad_app_name_with_curl_hint),
      cmocka_unit_test(test_selector_rejects_invalid_regex_naming_the_label),
      cmocka_unit_test(test_selector_rejects_regex_that_escapes_its_anchors),
      cmocka_unit_test(test_selector_rejects_back_references),
      cmocka_unit_test(test_selector_regexes_use_re2_syntax),
      cmocka_unit_test(test_selector_accepts_nested_stars_in_linear_time),
      cmocka_unit_test(test_selector_refuses_huge_repeats_with_a_message),
      cmocka_unit_test(test_selector_refuses_regex_too_large_once_compiled),
      cmocka_unit_test(test_selector_limits_the_number_of_regex_matchers),
      cmocka_unit_test(test_selector_regexes_share_one_memory_budget),
      cmocka_unit_test(test_selector_equality_matches_exact_values),
      cmocka_unit_test(test_selector_absent_label_counts_as_empty),
      cmocka_unit_test(test_selector_regexes_are_anchored),
      cmocka_unit_test(test_selector_needs_every_matcher),
      cmocka_unit_test(test_selector_match_finds_labels_in_many),
      cmocka_unit_test(test_selector_free_accepts_null_and_empty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
