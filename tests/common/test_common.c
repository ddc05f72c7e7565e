/* Tests for src/common/common.c: buffers, JSON strings, varints, slices. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ember/common.h"

/* Under AddressSanitizer an impossible allocation ends in its own report;
 * these tests want to see what Ember does when malloc says no. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

/* Runs ember_grow(need, size) on an empty array (or, with size 0,
 * ember_buf_reserve(need) on a buffer of 10 bytes) in a child process,
 * which gets 5 s; returns its wait status and its stderr in msg. */
static int grow_in_child(size_t need, size_t size, char *msg, size_t msg_len) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    dup2(fds[1], 2);
    close(fds[0]);
    alarm(5); /* a loop that never ends is a failure too */
    if (size == 0) {
      ember_buf_t b = EMBER_BUF_INIT;
      ember_buf_append(&b, "0123456789", 10);
      ember_buf_reserve(&b, need);
      _exit(b.cap - b.len > need ? 0 : 1);
    }
    void *p = NULL;
    size_t cap = 0;
    ember_grow(&p, &cap, need, size);
    _exit(cap >= need ? 0 : 1);
  }
  close(fds[1]);
  /* Read to the end: a reader that goes away early would kill the child
   * with SIGPIPE when it writes more. */
  size_t len = 0;
  char sink[256];
  ssize_t n;
  while ((n = read(fds[0], len + 1 < msg_len ? msg + len : sink,
                   len + 1 < msg_len ? msg_len - 1 - len : sizeof sink)) > 0)
    if (len + 1 < msg_len) len += (size_t)n;
  msg[len] = '\0';
  close(fds[0]);
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void test_grow_aborts_when_the_byte_size_overflows(void **state) {
  char msg[256];
  /* 2^61 + 1 elements of 16 bytes: the product wraps to a few bytes. */
  int status = grow_in_child(SIZE_MAX / 8 + 1, 16, msg, sizeof msg);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("expected an abort, got status %#x (%s)", status, msg);
  assert_non_null(strstr(msg, "out of memory"));
}

static void test_grow_aborts_instead_of_doubling_forever(void **state) {
  char msg[256];
  /* Doubling from 8 passes 2^63 and would wrap to 0. */
  int status = grow_in_child(SIZE_MAX / 2 + 2, 1, msg, sizeof msg);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("expected an abort, got status %#x (%s)", status, msg);
  assert_non_null(strstr(msg, "out of memory"));
}

static void test_buf_reserve_aborts_when_the_size_overflows(void **state) {
  char msg[256];
  /* len + extra + 1 wraps around to a few bytes. */
  int status = grow_in_child(SIZE_MAX - 5, 0, msg, sizeof msg);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("expected an abort, got status %#x (%s)", status, msg);
  assert_non_null(strstr(msg, "out of memory"));
  /* Doubling from 64 passes 2^63. */
  status = grow_in_child(SIZE_MAX / 2 + 2, 0, msg, sizeof msg);
  if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
    fail_msg("expected an abort, got status %#x (%s)", status, msg);
}

static void test_grow_doubles_and_keeps_the_contents(void **state) {
  uint32_t *a = NULL;
  size_t cap = 0;
  ember_grow((void **)&a, &cap, 5, sizeof *a);
  assert_int_equal(cap, 8);
  for (uint32_t i = 0; i < 8; i++)
    a[i] = i;
  ember_grow((void **)&a, &cap, 9, sizeof *a);
  assert_int_equal(cap, 16);
  ember_grow((void **)&a, &cap, 100, sizeof *a);
  assert_int_equal(cap, 128);
  for (uint32_t i = 0; i < 8; i++)
    assert_int_equal(a[i], i);
  ember_grow((void **)&a, &cap, 50, sizeof *a); /* never shrinks */
  assert_int_equal(cap, 128);
  free(a);
}

static void test_buf_appends_and_stays_terminated(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  ember_buf_puts(&b, "abc");
  ember_buf_putc(&b, '-');
  ember_buf_printf(&b, "%d/%s", 42, "x");
  ember_buf_put_u64(&b, 18446744073709551615ull);
  ember_buf_putc(&b, ' ');
  ember_buf_put_i64(&b, INT64_MIN);
  assert_string_equal(b.data, "abc-42/x18446744073709551615 -9223372036854775808");
  ember_buf_free(&b);
}

static void test_buf_taken_empty_is_an_empty_string(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  size_t n = 7;
  char *s = ember_buf_take(&b, &n);
  assert_int_equal(n, 0);
  assert_string_equal(s, "");
  free(s);
  ember_buf_reserve(&b, 100);
  assert_string_equal(b.data, "");
  ember_buf_free(&b);
}

static void test_json_string_escapes_controls_quotes_and_bad_utf8(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  const char in[] = "a\"b\\c\n\x01\xc3\xa9\xff";
  ember_buf_put_json_string(&b, in, sizeof in - 1);
  assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
  ember_buf_free(&b);
}

static void test_varint_round_trips_and_rejects_truncation(void **state) {
  ember_buf_t b = EMBER_BUF_INIT;
  uint64_t vals[] = {0, 1, 127, 128, 300, UINT32_MAX, UINT64_MAX};
  for (size_t i = 0; i < 7; i++) ember_varint_put(&b, vals[i]);
  const uint8_t *p = (const uint8_t *)b.data, *end = p + b.len;
  for (size_t i = 0; i < 7; i++) {
    uint64_t v;
    assert_int_equal(ember_varint_get(&p, end, &v), 0);
    assert_true(v == vals[i]);
  }
  assert_ptr_equal(p, end);
  uint64_t v;
  const uint8_t trunc[] = {0x80, 0x80};
  p = trunc;
  assert_int_equal(ember_varint_get(&p, trunc + 2, &v), -1);
  const uint8_t overlong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  p = overlong;
  assert_int_equal(ember_varint_get(&p, overlong + 10, &v), -1);
  ember_buf_free(&b);
}

static void test_err_set_returns_code_and_formats(void **state) {
  ember_err_t err;
  assert_int_equal(ember_err_set(&err, EMBER_EINVAL, "bad %s", "thing"), EMBER_EINVAL);
  assert_string_equal(err.msg, "bad thing");
  assert_int_equal(ember_err_set(NULL, EMBER_EIO, "x"), EMBER_EIO);
}

static void test_slice_trim_removes_spaces_and_tabs(void **state) {
  ember_slice_t s = ember_slice_trim(ember_slice(" \tabc \t", 7));
  assert_true(ember_slice_eq(s, "abc"));
  assert_int_equal(ember_slice_trim(ember_slice("   ", 3)).len, 0);
}

static void test_budget_refuses_what_does_not_fit_and_takes_back(void **state) {
  ember_budget_t b = {0, 100};
  assert_true(ember_budget_take(&b, 60));
  assert_false(ember_budget_take(&b, 41));
  assert_int_equal(ember_budget_used(&b), 60);
  assert_true(ember_budget_take(&b, 40));
  assert_false(ember_budget_take(&b, 1));
  ember_budget_give(&b, 100);
  assert_false(ember_budget_take(&b, SIZE_MAX)); /* no wrap-around */
  assert_true(ember_budget_take(NULL, SIZE_MAX));
  ember_budget_t unlimited = {0, 0};
  assert_true(ember_budget_take(&unlimited, SIZE_MAX / 2));
}

static void test_deadline_is_per_thread_and_passes(void **state) {
  assert_false(ember_deadline_passed()); /* none set */
  ember_deadline_set(ember_mono_ns() + 60ull * 1000000000u);
  assert_false(ember_deadline_passed());
  ember_deadline_set(ember_mono_ns() - 1);
  assert_true(ember_deadline_passed());
  ember_deadline_set(0);
  assert_false(ember_deadline_passed());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_grow_aborts_when_the_byte_size_overflows),
      cmocka_unit_test(test_grow_aborts_instead_of_doubling_forever),
      cmocka_unit_test(test_buf_reserve_aborts_when_the_size_overflows),
      cmocka_unit_test(test_grow_doubles_and_keeps_the_contents),
      cmocka_unit_test(test_buf_appends_and_stays_terminated),
      cmocka_unit_test(test_buf_taken_empty_is_an_empty_string),
      cmocka_unit_test(test_json_string_escapes_controls_quotes_and_bad_utf8),
      cmocka_unit_test(test_varint_round_trips_and_rejects_truncation),
      cmocka_unit_test(test_err_set_returns_code_and_formats),
      cmocka_unit_test(test_slice_trim_removes_spaces_and_tabs),
      cmocka_unit_test(test_budget_refuses_what_does_not_fit_and_takes_back),
      cmocka_unit_test(test_deadline_is_per_thread_and_passes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
