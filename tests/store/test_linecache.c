/* Tests for src/store/linecache.c: whole lines to stack ids, its bound and
 * its turns, the ids it gives against the dictionary's, and text pushes
 * storing exactly what tree pushes store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ember/ingest.h"
#include "ingest/ingest_test_util.h"
#include "ingest/random_text.h"
#include "store/helpers.h"
#include "store/store_int.h"

/* In the future, so the background maintenance pass (which uses the real
 * clock) never finds these rows settled and rolls them up mid-test. */
#define T0 4000000000

/* ---- The cache alone ------------------------------------------------------ */

static uint32_t get(ember_linecache_t *lc, const char *text) {
  return ember_linecache_get(lc, ember_hash_bytes(text, strlen(text)), text,
                             (uint32_t)strlen(text));
}

static void put_line(ember_linecache_t *lc, const char *text, uint32_t id) {
  ember_linecache_put(lc, ember_hash_bytes(text, strlen(text)), text, (uint32_t)strlen(text),
                      id);
}

static void test_linecache_stays_within_its_bound_under_many_unique_lines(void **state) {
  const size_t max = (size_t)64 << 10;
  ember_linecache_t *lc = ember_linecache_new(max);
  ember_linecache_depth(lc, 1000);
  char line[96];
  for (uint32_t i = 0; i < 100000; i++) {
    snprintf(line, sizeof line, "main;server;handle;parse;frame_%u;leaf_%u", i, i * 7);
    put_line(lc, line, i);
    assert_true(ember_linecache_bytes(lc) <= max + 256);
  }
  ember_linecache_stats_t st;
  ember_linecache_stats(lc, &st);
  assert_true(st.turns > 10);
  assert_true(st.entries > 500); /* the bound is used, not wasted */
  /* The newest lines are there, the oldest gone. */
  assert_int_equal(get(lc, line), 99999);
  assert_int_equal(get(lc, "main;server;handle;parse;frame_0;leaf_0"), EMBER_LINECACHE_NONE);
  ember_linecache_free(lc);
}

static void test_linecache_keeps_the_lines_in_use_across_turns(void **state) {
  ember_linecache_t *lc = ember_linecache_new((size_t)32 << 10);
  ember_linecache_depth(lc, 1000);
  char line[64];
  for (uint32_t i = 0; i < 50; i++) {
    snprintf(line, sizeof line, "hot;%u", i);
    put_line(lc, line, i);
  }
  for (uint32_t round = 0; round < 200; round++) {
    for (uint32_t k = 0; k < 100; k++) { /* lines seen once */
      snprintf(line, sizeof line, "cold;%u;%u", round, k);
      put_line(lc, line, 1000 + k);
    }
    for (uint32_t i = 0; i < 50; i++) { /* lines every push has */
      snprintf(line, sizeof line, "hot;%u", i);
      assert_int_equal(get(lc, line), i);
    }
  }
  ember_linecache_stats_t st;
  ember_linecache_stats(lc, &st);
  assert_true(st.turns > 20);
  ember_linecache_free(lc);
}

static void test_linecache_skips_texts_over_a_quarter_of_a_generation(void **state) {
  ember_linecache_t *lc = ember_linecache_new((size_t)16 << 10);
  ember_linecache_depth(lc, 1000);
  char *big = malloc(3000);
  memset(big, 'x', 2999);
  big[2999] = '\0';
  put_line(lc, big, 7);
  assert_int_equal(get(lc, big), EMBER_LINECACHE_NONE);
  put_line(lc, "a;b", 8);
  assert_int_equal(get(lc, "a;b"), 8);
  free(big);
  ember_linecache_free(lc);
}

static void test_linecache_forgets_its_lines_when_the_depth_limit_changes(void **state) {
  ember_linecache_t *lc = ember_linecache_new((size_t)1 << 20);
  ember_linecache_depth(lc, 3);
  put_line(lc, "a;b;c;d", 4);
  ember_linecache_depth(lc, 3);
  assert_int_equal(get(lc, "a;b;c;d"), 4);
  /* Cut at another depth, the same text is another stack. */
  ember_linecache_depth(lc, 1000);
  assert_int_equal(get(lc, "a;b;c;d"), EMBER_LINECACHE_NONE);
  ember_linecache_free(lc);
}

/* ---- With a dictionary ------------------------------------------------------ */

typedef struct {
  char *dir;
  ember_conn_t *c;
  ember_dicts_t *r;
} dict_fixture_t;

static int dict_setup_bounded(void **state, size_t max_bytes) {
  dict_fixture_t *f = calloc(1, sizeof *f);
  f->dir = temp_dir();
  char path[600];
  snprintf(path, sizeof path, "%s/ember.db", f->dir);
  assert_int_equal(ember_conn_open(path, true, &f->c, NULL), 0);
  assert_int_equal(ember_schema_migrate(f->c, NULL), 0);
  assert_int_equal(ember_conn_exec(f->c,
                                   "INSERT INTO app_rows(id, name, spy_name, units, "
                                   "sample_rate, aggregation) VALUES(1, 'a', 'x', "
                                   "'samples', 100, 0)",
                                   NULL),
                   0);
  f->r = ember_dicts_new(max_bytes);
  *state = f;
  return 0;
}

static int dict_setup(void **state) { return dict_setup_bounded(state, 0); }

/* Line caches of 8 KiB (an eighth of 64 KiB): a few hundred lines. */
static int dict_setup_small(void **state) {
  return dict_setup_bounded(state, (size_t)64 << 10);
}

static int dict_teardown(void **state) {
  dict_fixture_t *f = *state;
  ember_dicts_free(f->r);
  ember_conn_close(f->c);
  rm_tree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

/* Folded text as text stacks, cut at max_depth (caller frees). */
static ember_ingest_result_t text_of(const char *folded, uint32_t max_depth) {
  ember_ingest_request_t req = {
      .name = "a",
      .body = (const uint8_t *)folded,
      .body_len = strlen(folded),
      .max_body = SIZE_MAX,
      .now = T0,
      .limits = {.max_stack_depth = max_depth},
      .text_stacks = true,
  };
  ember_ingest_result_t res = {0};
  ember_err_t err;
  if (ember_ingest_parse(&req, &res, &err)) fail_msg("parse: %s", err.msg);
  assert_int_equal(res.n, 1);
  assert_non_null(res.items[0].stacks);
  return res;
}

/* The stack id of one text stack, found the long way: its own tree mapped
 * by the dictionary, which must add nothing. */
static uint32_t id_by_tree(dict_fixture_t *f, ember_dict_t *d, const ember_text_stack_t *it,
                           uint32_t max_depth) {
  ember_tree_t *t = ember_tree_new();
  uint32_t leaf = ember_tree_add_text(t, max_depth, it->text, it->len, 1, NULL);
  uint32_t *stack_of = malloc(ember_tree_count(t) * sizeof *stack_of);
  size_t added = 99;
  assert_int_equal(ember_dict_map_tree(d, f->c, t, SIZE_MAX, stack_of, &added, NULL), 0);
  assert_int_equal(added, 0);
  uint32_t id = stack_of[leaf];
  free(stack_of);
  ember_tree_free(t);
  return id;
}

static void map_text(dict_fixture_t *f, ember_dict_t *d, const ember_text_stacks_t *s,
                     ember_seg_pair_t *pairs, size_t *added) {
  ember_err_t err;
  if (ember_dict_map_text(d, f->c, s, SIZE_MAX, pairs, added, &err))
    fail_msg("map: %s", err.msg);
}

static void test_text_lines_resolve_to_the_ids_of_their_trees(void **state) {
  dict_fixture_t *f = *state;
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  const char *body = "main;a;b 1\nmain;;a;b 2\nmain;a;b; 3\nmain;a;b;c;d;e;f 4\n"
                     "main;a;b;c;d;e;g 5\nmain 6\n;; 7\nmain;a;b;c 8\n";
  for (int pass = 0; pass < 2; pass++) { /* the second from the cache */
    ember_ingest_result_t res = text_of(body, 4);
    const ember_text_stacks_t *s = res.items[0].stacks;
    ember_seg_pair_t pairs[16];
    size_t added = 99;
    map_text(f, d, s, pairs, &added);
    /* main, main;a, main;a;b, main;a;b;c and main;a;b;[truncated] */
    assert_int_equal(added, pass == 0 ? 5 : 0);
    for (size_t i = 0; i < s->n; i++) {
      assert_int_equal(pairs[i].stack, id_by_tree(f, d, &s->items[i], 4));
      assert_int_equal(pairs[i].value, s->items[i].value);
    }
    /* Empty frames name the same stack; so does anything past the cut. */
    assert_int_equal(pairs[0].stack, pairs[1].stack);
    assert_int_equal(pairs[0].stack, pairs[2].stack);
    assert_int_equal(pairs[3].stack, pairs[4].stack);
    assert_int_equal(pairs[6].stack, 0); /* no frames at all: the root */
    ember_ingest_result_free(&res);
  }
  ember_dicts_put(f->r, d);
}

static void test_lines_evicted_from_the_cache_resolve_to_the_same_ids(void **state) {
  dict_fixture_t *f = *state;
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  ember_buf_t early = EMBER_BUF_INIT, flood = EMBER_BUF_INIT;
  for (int i = 0; i < 40; i++) ember_buf_printf(&early, "main;early;e%d;leaf 1\n", i);
  for (int i = 0; i < 3000; i++) ember_buf_printf(&flood, "main;flood;f%d;leaf%d 1\n", i, i);
  ember_ingest_result_t a = text_of(early.data, 1000);
  ember_seg_pair_t first[40], again[40];
  size_t added;
  map_text(f, d, a.items[0].stacks, first, &added);
  assert_int_equal(added, 40 * 2 + 2);
  ember_ingest_result_t b = text_of(flood.data, 1000);
  ember_seg_pair_t *fp = malloc(3000 * sizeof *fp);
  map_text(f, d, b.items[0].stacks, fp, &added);
  ember_linecache_stats_t st;
  ember_linecache_stats(ember_dict_linecache(d), &st);
  assert_true(st.turns >= 2); /* the early lines are gone from the cache */
  assert_true(st.bytes <= ((size_t)64 << 10) / EMBER_STORE_LINE_CACHE_SHARE + 256);
  uint64_t misses = st.misses;
  map_text(f, d, a.items[0].stacks, again, &added);
  ember_linecache_stats(ember_dict_linecache(d), &st);
  assert_int_equal(st.misses - misses, 40); /* resolved the long way... */
  assert_int_equal(added, 0);               /* ...to the stacks they had */
  for (int i = 0; i < 40; i++) assert_int_equal(again[i].stack, first[i].stack);
  free(fp);
  ember_ingest_result_free(&a);
  ember_ingest_result_free(&b);
  ember_buf_free(&early);
  ember_buf_free(&flood);
  ember_dicts_put(f->r, d);
}

static void test_dictionary_bytes_count_the_line_cache(void **state) {
  dict_fixture_t *f = *state;
  ember_dict_t *d = ember_dicts_get(f->r, 1);
  size_t before;
  ember_dicts_stats(f->r, &before, NULL, NULL);
  ember_buf_t body = EMBER_BUF_INIT;
  for (int i = 0; i < 500; i++) ember_buf_printf(&body, "main;x%d 1\n", i);
  ember_ingest_result_t res = text_of(body.data, 1000);
  ember_seg_pair_t *pairs = malloc(500 * sizeof *pairs);
  map_text(f, d, res.items[0].stacks, pairs, NULL);
  size_t after;
  ember_dicts_stats(f->r, &after, NULL, NULL);
  ember_linecache_stats_t st;
  ember_linecache_stats(ember_dict_linecache(d), &st);
  assert_int_equal(st.entries, 500);
  assert_true(after - before >= st.bytes);
  ember_dicts_put(f->r, d);
  /* Dropping the dictionary gives every byte back, the cache's too. */
  ember_dicts_drop_all(f->r);
  ember_dicts_stats(f->r, &after, NULL, NULL);
  assert_int_equal(after, 0);
  free(pairs);
  ember_ingest_result_free(&res);
  ember_buf_free(&body);
}

/* ---- Text pushes against tree pushes ---------------------------------------- */

/* Parses body into a result of text stacks or of a tree. */
static int parse_push(const char *name, int64_t t, const ember_buf_t *body, bool folded,
                      uint32_t depth, bool text, ember_ingest_result_t *res) {
  char from[32];
  snprintf(from, sizeof from, "%lld", (long long)t);
  ember_ingest_request_t req = {
      .name = name,
      .from = from,
      .until = from,
      .format = folded ? "folded" : "lines",
      .body = (const uint8_t *)body->data,
      .body_len = body->len,
      .max_body = SIZE_MAX,
      .now = T0 + 100000,
      .limits = {.max_stack_depth = depth},
      .text_stacks = text,
  };
  memset(res, 0, sizeof *res);
  return ember_ingest_parse(&req, res, NULL);
}

static ember_store_t *small_store(const char *dir) {
  ember_store_config_t cfg = {
      .data_dir = dir,
      .max_new_stacks = 150,         /* some pushes pass it */
      .dict_cache = (size_t)96 << 10, /* line caches of 12 KiB: turns */
  };
  return open_store_cfg(&cfg);
}

/* Every node of the tree read for query over [from, until], dumped. */
static char *read_dump(ember_store_t *s, const char *query, int64_t from, int64_t until) {
  int rc;
  ember_tree_t *t = get_tree(s, query, from, until, &rc);
  assert_int_equal(rc, 0);
  char *d = tree_dump(t);
  ember_tree_free(t);
  return d;
}

static void assert_same_reads(ember_store_t *a, ember_store_t *b, const char *query,
                              int64_t from, int64_t until) {
  char *x = read_dump(a, query, from, until), *y = read_dump(b, query, from, until);
  if (strcmp(x, y))
    fail_msg("%s [%lld, %lld]: text pushes stored\n%s\ntree pushes\n%s", query,
             (long long)from, (long long)until, x, y);
  free(x);
  free(y);
}

static void test_text_pushes_store_exactly_what_tree_pushes_store(void **state) {
  fixture_t *f = *state;
  char pa[600], pb[600];
  snprintf(pa, sizeof pa, "%s/text", f->dir);
  snprintf(pb, sizeof pb, "%s/tree", f->dir);
  ember_store_t *a = small_store(pa), *b = small_store(pb);
  static const char *names[] = {"one.cpu{h=a}", "one.cpu{h=b}", "two.cpu{h=a}"};
  static const uint32_t depths[] = {6, 6, 6, 3};
  uint64_t seed = 3;
  ember_buf_t pool[48];
  random_text_pool(&seed, pool, 48);
  int ok = 0, limited = 0;
  for (int i = 0; i < 120; i++) {
    ember_buf_t body = EMBER_BUF_INIT;
    bool folded = i % 5 != 4;
    random_text_body(&seed, pool, 48, folded, 5 + (int)(random_next(&seed) % 70), false,
                     &body);
    const char *name = names[random_next(&seed) % 3];
    /* The depth limit changes now and then, as after a restart with
     * another --max-stack-depth: cached lines must not outlive it. */
    uint32_t depth = depths[(i / 30) % 4];
    int64_t t = T0 + 10 * (i % 12);
    ember_ingest_result_t ra, rb;
    assert_int_equal(parse_push(name, t, &body, folded, depth, true, &ra), 0);
    assert_int_equal(parse_push(name, t, &body, folded, depth, false, &rb), 0);
    ember_err_t ea, eb;
    int rca = ra.n ? ember_store_write(a, &ra, &ea) : 0;
    int rcb = rb.n ? ember_store_write(b, &rb, &eb) : 0;
    assert_int_equal(rca, rcb);
    if (rca) assert_string_equal(ea.msg, eb.msg);
    ok += rca == 0;
    limited += rca == EMBER_ELIMIT;
    ember_ingest_result_free(&ra);
    ember_ingest_result_free(&rb);
    ember_buf_free(&body);
    if (i % 20 == 19) assert_same_reads(a, b, "one.cpu{}", T0, T0 + 200);
  }
  assert_true(ok > 80 && limited > 0);
  for (int64_t t = T0; t < T0 + 120; t += 10) {
    assert_same_reads(a, b, "one.cpu{h=\"a\"}", t, t);
    assert_same_reads(a, b, "one.cpu{h=\"b\"}", t, t);
    assert_same_reads(a, b, "two.cpu{}", t, t);
  }
  ember_store_stats_t st;
  ember_store_stats(a, &st);
  assert_true(st.dict_bytes <= ((size_t)96 << 10) * 3);
  random_text_pool_free(pool, 48);
  ember_store_close(a);
  ember_store_close(b);
  rm_tree(pa);
  rm_tree(pb);
}

static int two_stores_teardown(void **state) {
  fixture_t *f = *state;
  rm_tree(f->dir);
  free(f->dir);
  free(f);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_linecache_stays_within_its_bound_under_many_unique_lines),
      cmocka_unit_test(test_linecache_keeps_the_lines_in_use_across_turns),
      cmocka_unit_test(test_linecache_skips_texts_over_a_quarter_of_a_generation),
      cmocka_unit_test(test_linecache_forgets_its_lines_when_the_depth_limit_changes),
      cmocka_unit_test_setup_teardown(test_text_lines_resolve_to_the_ids_of_their_trees,
                                      dict_setup, dict_teardown),
      cmocka_unit_test_setup_teardown(
          test_lines_evicted_from_the_cache_resolve_to_the_same_ids, dict_setup_small,
          dict_teardown),
      cmocka_unit_test_setup_teardown(test_dictionary_bytes_count_the_line_cache,
                                      dict_setup, dict_teardown),
      cmocka_unit_test_setup_teardown(test_text_pushes_store_exactly_what_tree_pushes_store,
                                      dir_setup, two_stores_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
