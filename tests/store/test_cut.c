/* Tests for src/store/cut.c: the flame graph's tree built from stack sums,
 * cut before it is built, must be node for node the tree that reading the
 * whole tree and cutting it with ember_tree_truncate gives, and its
 * function sums those ember_tree_functions gives for the whole tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/helpers.h"

#define T0 4000000000

static uint64_t rnd_state = 0x2545f4914f6cdd1dull;
static uint64_t rnd(uint64_t n) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 7;
  rnd_state ^= rnd_state << 17;
  return rnd_state % n;
}

/* Random deep-ish stacks, some ending where others go on (a self value on
 * an inner node), and the literal frame "other" now and then, which the
 * cut must fold into rather than duplicate. */
static void put_random(ember_store_t *s, const char *name, int64_t t, int lines) {
  char folded[8192] = "";
  for (int i = 0; i < lines; i++) {
    char line[160] = "main";
    for (int k = 0, depth = 1 + (int)rnd(6); k < depth; k++) {
      char f[16];
      if (rnd(40) == 0) snprintf(f, sizeof f, ";other");
      else snprintf(f, sizeof f, ";f%d", (int)rnd(k < 2 ? 4 : 9));
      strcat(line, f);
    }
    char v[24];
    snprintf(v, sizeof v, " %d\n", 1 + (int)rnd(rnd(10) ? 50 : 5000));
    strcat(line, v);
    strcat(folded, line);
  }
  put(s, name, t, t + 10, folded);
}

/* Fails unless a and b are the same tree node for node: same ids, parents,
 * names and values. */
static void assert_same_tree(const ember_tree_t *a, const ember_tree_t *b) {
  assert_int_equal(ember_tree_count(a), ember_tree_count(b));
  for (uint32_t id = 0; id < ember_tree_count(a); id++) {
    const ember_tree_node_t *x = ember_tree_node(a, id), *y = ember_tree_node(b, id);
    assert_int_equal(x->parent, y->parent);
    ember_slice_t nx = ember_tree_name(a, x->name), ny = ember_tree_name(b, y->name);
    assert_int_equal(nx.len, ny.len);
    assert_memory_equal(nx.base, ny.base, nx.len);
    for (int s = 0; s < EMBER_TREE_SIDES; s++) {
      assert_int_equal(x->self[s], y->self[s]);
      assert_int_equal(x->total[s], y->total[s]);
    }
  }
  assert_int_equal(ember_tree_check(b, NULL), 0);
}

/* A tree's function sums as sorted "name self0 self1 total0 total1" lines. */
static int cmp_line(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *functions_text(const ember_tree_t *t, const ember_function_t *f, size_t n) {
  char **lines = calloc(n ? n : 1, sizeof *lines);
  for (size_t i = 0; i < n; i++) {
    ember_slice_t nm = ember_tree_name(t, f[i].name);
    lines[i] = malloc(nm.len + 100);
    snprintf(lines[i], nm.len + 100, "%.*s %llu %llu %llu %llu", (int)nm.len, nm.base,
             (unsigned long long)f[i].self[0], (unsigned long long)f[i].self[1],
             (unsigned long long)f[i].total[0], (unsigned long long)f[i].total[1]);
  }
  qsort(lines, n, sizeof *lines, cmp_line);
  ember_buf_t b = EMBER_BUF_INIT;
  for (size_t i = 0; i < n; i++) {
    ember_buf_printf(&b, "%s\n", lines[i]);
    free(lines[i]);
  }
  free(lines);
  ember_buf_putc(&b, '\0');
  return ember_buf_take(&b, NULL);
}

/* The old way: whole trees side after side, then ember_tree_truncate; the
 * function sums of the whole tree into *fns. */
static ember_tree_t *whole_then_cut(ember_store_t *s, const char *q0, const char *q1,
                                    int64_t from, int64_t until, long max_nodes,
                                    char **fns) {
  ember_tree_t *t = ember_tree_new(), *cut = NULL;
  const char *qs[2] = {q0, q1};
  for (int side = 0; side < 2 && qs[side]; side++) {
    ember_selector_t sel;
    assert_int_equal(ember_selector_parse(qs[side], strlen(qs[side]), &sel, NULL), 0);
    assert_int_equal(ember_store_read_tree(s, &sel, from, until, t, side, NULL), 0);
    ember_selector_free(&sel);
  }
  ember_function_t *f;
  size_t n;
  assert_int_equal(ember_tree_functions(t, 2, &f, &n, NULL), 0);
  *fns = functions_text(t, f, n);
  free(f);
  if (max_nodes < 0 || ember_tree_count(t) <= (size_t)max_nodes) return t;
  assert_int_equal(ember_tree_truncate(t, max_nodes, &cut, NULL), 0);
  ember_tree_free(t);
  return cut;
}

static ember_tree_t *sums_cut(ember_store_t *s, const char *q0, const char *q1,
                              int64_t from, int64_t until, long max_nodes, char **fns) {
  ember_store_sums_t *sums = ember_store_sums_new();
  ember_store_reader_t *r;
  assert_int_equal(ember_store_reader_open(s, &r, NULL), 0);
  const char *qs[2] = {q0, q1};
  for (int side = 0; side < 2 && qs[side]; side++) {
    ember_selector_t sel;
    assert_int_equal(ember_selector_parse(qs[side], strlen(qs[side]), &sel, NULL), 0);
    assert_int_equal(ember_store_reader_sums(r, &sel, from, until, sums, side, NULL), 0);
    ember_selector_free(&sel);
  }
  ember_store_reader_close(r); /* the sums outlive the session */
  ember_tree_t *t = NULL;
  ember_store_functions_t f;
  assert_int_equal(ember_store_sums_tree(sums, max_nodes, &t, &f, NULL), 0);
  *fns = functions_text(f.names, f.items, f.n);
  free(f.items);
  ember_tree_free(f.names);
  ember_store_sums_free(sums);
  return t;
}

static void compare(ember_store_t *s, const char *q0, const char *q1, int64_t from,
                    int64_t until) {
  static const long cuts[] = {1, 2, 3, 7, 20, 64, 150, 100000, -1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    char *want_f, *got_f;
    ember_tree_t *want = whole_then_cut(s, q0, q1, from, until, cuts[i], &want_f);
    ember_tree_t *got = sums_cut(s, q0, q1, from, until, cuts[i], &got_f);
    assert_same_tree(want, got);
    assert_string_equal(want_f, got_f);
    free(want_f);
    free(got_f);
    ember_tree_free(want);
    ember_tree_free(got);
  }
}

static void test_cut_gives_the_tree_truncation_of_the_whole_tree_gives(void **state) {
  fixture_t *f = *state;
  for (int i = 0; i < 40; i++) {
    char name[64];
    snprintf(name, sizeof name, "app.cpu{pod=p%d}", (int)rnd(3));
    put_random(f->s, name, T0 + 10 * (int64_t)rnd(30), 20);
  }
  for (int i = 0; i < 10; i++) put_random(f->s, "other.cpu", T0 + 10 * (int64_t)rnd(30), 20);
  compare(f->s, "app.cpu{}", NULL, T0, T0 + 300);
  compare(f->s, "app.cpu{pod=\"p1\"}", NULL, T0 + 50, T0 + 120);
  /* A diff within one app: one numbering for both sides. */
  compare(f->s, "app.cpu{}", "app.cpu{}", T0, T0 + 140);
  compare(f->s, "app.cpu{pod=\"p0\"}", "app.cpu{pod=\"p2\"}", T0, T0 + 300);
  /* Across two apps: whole trees, cut as before. */
  compare(f->s, "app.cpu{}", "other.cpu{}", T0, T0 + 300);
  /* Nothing read on a side, or at all. */
  compare(f->s, "app.cpu{}", "app.cpu{}", T0 + 100000, T0 + 100010);
  compare(f->s, "app.cpu{}", NULL, T0 - 100, T0 - 50);
}

static void test_cut_reads_an_unknown_app_as_an_empty_tree(void **state) {
  fixture_t *f = *state;
  ember_store_sums_t *sums = ember_store_sums_new();
  ember_tree_t *t = NULL;
  assert_int_equal(ember_store_sums_tree(sums, 10, &t, NULL, NULL), 0);
  assert_int_equal(ember_tree_count(t), 1);
  assert_int_equal(ember_tree_total(t, 0), 0);
  ember_tree_free(t);
  ember_store_sums_free(sums);
  (void)f;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_cut_gives_the_tree_truncation_of_the_whole_tree_gives, store_setup,
          store_teardown),
      cmocka_unit_test_setup_teardown(test_cut_reads_an_unknown_app_as_an_empty_tree,
                                      store_setup, store_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
