/* Tests for src/spy/walk.c: threads, stacks, names and locals read from a
 * fake CPython (fake_python.h) laid out as 3.11 and as 3.12, and what a
 * torn read looks like (a frame whose code is not code, a frame that
 * links to itself). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_python.h"

static void open_proc(fake_t *f, spy_proc_t *p) {
  spy_proc_init(p, 0, &f->py);
  p->mem = fake_mem(f);
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_refresh_paths(p, &names, 1);
  spy_names_free(&names);
}

static void test_threads_and_the_gil_holder(void **state) {
  for (unsigned minor = 11; minor <= 12; minor++) {
    fake_t f;
    fake_scene_t sc;
    fake_scene(&f, minor, &sc);
    spy_proc_t p;
    open_proc(&f, &p);
    spy_thread_t t[4];
    size_t n;
    assert_int_equal(spy_threads(&p, false, t, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].tid, 100);
    assert_true(t[0].main && t[0].gil && !t[0].idle);
    assert_int_equal(t[1].tid, 101);
    assert_true(!t[1].main && !t[1].gil);
    spy_proc_free(&p);
    fake_free(&f);
  }
}

static void test_stacks_innermost_first_named_as_the_agent_names_them(void **state) {
  for (unsigned minor = 11; minor <= 12; minor++) {
    fake_t f;
    fake_scene_t sc;
    fake_scene(&f, minor, &sc);
    spy_proc_t p;
    open_proc(&f, &p);
    spy_names_t names;
    memset(&names, 0, sizeof names);
    spy_thread_t t[4];
    size_t nt, n;
    bool cut;
    spy_frame_t fr[16];
    assert_int_equal(spy_threads(&p, false, t, 4, &nt), 0);
    assert_int_equal(spy_stack(&p, &names, &t[0], fr, 16, &n, &cut), 0);
    /* The frame not started yet and the 3.12 shim are left out. */
    assert_int_equal(n, 3);
    assert_false(cut);
    assert_string_equal(fr[0].code->qualname, "Worker.busy");
    assert_int_equal(fr[0].line, 22); /* unit 5: the third 2-unit entry */
    assert_string_equal(fr[1].code->qualname, "main");
    assert_int_equal(fr[1].line, 12);
    assert_string_equal(fr[2].code->qualname, "<module>");
    assert_int_equal(fr[2].line, 1);
    ember_slice_t name = spy_names_get(&names, fr[0].code->name_id);
    assert_int_equal(name.len, strlen("app.main:Worker.busy (app/main.py:20)"));
    assert_memory_equal(name.base, "app.main:Worker.busy (app/main.py:20)", name.len);
    /* A module run as __main__ is named after its file. */
    assert_int_equal(spy_stack(&p, &names, &t[1], fr, 16, &n, &cut), 0);
    assert_int_equal(n, 1);
    name = spy_names_get(&names, fr[0].code->name_id);
    assert_memory_equal(name.base, "main:wait (app/main.py:30)", name.len);
    assert_int_equal(fr[0].line, 31);
    /* A stack deeper than asked for is cut, innermost frames kept. */
    assert_int_equal(spy_stack(&p, &names, &t[0], fr, 2, &n, &cut), 0);
    assert_int_equal(n, 2);
    assert_true(cut);
    spy_names_free(&names);
    spy_proc_free(&p);
    fake_free(&f);
  }
}

static void test_torn_frames_are_refused(void **state) {
  for (unsigned minor = 11; minor <= 12; minor++) {
    fake_t f;
    fake_scene_t sc;
    fake_scene(&f, minor, &sc);
    spy_proc_t p;
    spy_names_t names;
    memset(&names, 0, sizeof names);
    spy_thread_t t[4];
    size_t nt, n;
    bool cut;
    spy_frame_t fr[16];
    /* The code of a frame is not a code object. */
    fake_u64(&f, sc.frame_main + f.L->fr_code, fake_str(&f, "not code"));
    open_proc(&f, &p);
    assert_int_equal(spy_threads(&p, false, t, 4, &nt), 0);
    assert_int_equal(spy_stack(&p, &names, &t[0], fr, 16, &n, &cut), -1);
    spy_proc_free(&p);
    /* A frame that links to itself. */
    fake_u64(&f, sc.frame_main + f.L->fr_code, sc.code_main);
    fake_u64(&f, sc.frame_main + f.L->fr_previous, sc.frame_main);
    open_proc(&f, &p);
    assert_int_equal(spy_threads(&p, false, t, 4, &nt), 0);
    assert_int_equal(spy_stack(&p, &names, &t[0], fr, 16, &n, &cut), -1);
    /* The other thread still reads. */
    assert_int_equal(spy_stack(&p, &names, &t[1], fr, 16, &n, &cut), 0);
    spy_proc_free(&p);
    spy_names_free(&names);
    fake_free(&f);
  }
}

static void test_a_code_object_replaced_at_the_same_address_is_read_again(void **state) {
  fake_t f;
  fake_scene_t sc;
  fake_scene(&f, 11, &sc);
  spy_proc_t p;
  open_proc(&f, &p);
  spy_names_t names;
  memset(&names, 0, sizeof names);
  spy_thread_t t[4];
  size_t nt, n;
  bool cut;
  spy_frame_t fr[16];
  assert_int_equal(spy_threads(&p, false, t, 4, &nt), 0);
  assert_int_equal(spy_stack(&p, &names, &t[1], fr, 16, &n, &cut), 0);
  assert_string_equal(fr[0].code->qualname, "wait");
  fake_u64(&f, sc.code_wait + f.L->co_qualname, fake_str(&f, "other"));
  p.mem = fake_mem(&f);
  assert_int_equal(spy_stack(&p, &names, &t[1], fr, 16, &n, &cut), 0);
  assert_string_equal(fr[0].code->qualname, "other");
  spy_names_free(&names);
  spy_proc_free(&p);
  fake_free(&f);
}

static void test_locals_show_values_and_cells(void **state) {
  for (unsigned minor = 11; minor <= 12; minor++) {
    fake_t f;
    fake_scene_t sc;
    fake_scene(&f, minor, &sc);
    spy_proc_t p;
    open_proc(&f, &p);
    spy_names_t names;
    memset(&names, 0, sizeof names);
    spy_thread_t t[4];
    size_t nt, n;
    bool cut;
    spy_frame_t fr[16];
    assert_int_equal(spy_threads(&p, false, t, 4, &nt), 0);
    assert_int_equal(spy_stack(&p, &names, &t[0], fr, 16, &n, &cut), 0);
    ember_buf_t out = EMBER_BUF_INIT;
    spy_frame_locals(&p, &fr[0], "  ", &out);
    assert_string_equal(out.data, "  n = 5\n  s = 'x'\n  c = 2.5\n");
    ember_buf_free(&out);
    spy_names_free(&names);
    spy_proc_free(&p);
    fake_free(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_threads_and_the_gil_holder),
      cmocka_unit_test(test_stacks_innermost_first_named_as_the_agent_names_them),
      cmocka_unit_test(test_torn_frames_are_refused),
      cmocka_unit_test(test_a_code_object_replaced_at_the_same_address_is_read_again),
      cmocka_unit_test(test_locals_show_values_and_cells),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
