/* Fuzz driver for the SVG and HTML renderers (src/query/svg.c, html.c,
 * markup.c): any folded profile, whatever bytes its frame names hold,
 * draws as well-formed XML, as a single graph and as a diff, and never
 * larger than the bound each renderer checks before drawing; the JSON
 * carries the function table within its bound too. */
#include "../query/svg_check.h"
#include "ember/ingest.h"
#include "ember/query.h"
#include "fuzz_util.h"
#include "query/query_int.h"

/* The inline SVG of an HTML page must parse too. */
static void check(const ember_buf_t *b, bool html) {
  const char *p = b->data;
  size_t n = b->len;
  if (html) {
    const char *start = strstr(p, "<svg "), *end = strstr(p, "</svg>");
    FUZZ_CHECK(start && end);
    p = start;
    n = (size_t)(end - start) + 6;
  }
  svg_doc_t d;
  if (svg_parse(p, n, &d)) {
    fprintf(stderr, "not well-formed: %s\n", d.err);
    abort();
  }
  FUZZ_CHECK(d.n >= 1);
  svg_doc_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ember_tree_t *t = ember_tree_new(), *right = ember_tree_new();
  ember_err_t err;
  /* The diff's right side: the same profile plus its first half again. */
  if (ember_ingest_folded((const char *)data, size, t, &err) == 0 &&
      ember_ingest_folded((const char *)data, size, right, &err) == 0 &&
      ember_ingest_folded((const char *)data, size / 2, right, &err) == 0) {
    ember_tree_merge(t, 1, right, 0);
    ember_render_meta_t m = {0};
    m.query = "fuzz.cpu{}";
    m.units = "samples";
    m.grid = ember_timeline_grid(0, 10);
    ember_buf_t b = EMBER_BUF_INIT;
    FUZZ_CHECK(ember_render_svg(&b, t, &m, NULL) == 0);
    FUZZ_CHECK(b.len <= ember_svg_bound(t, &m, NULL));
    check(&b, false);
    ember_buf_reset(&b);
    FUZZ_CHECK(ember_render_svg_diff(&b, t, &m, &m, NULL) == 0);
    FUZZ_CHECK(b.len <= ember_svg_bound(t, &m, &m));
    check(&b, false);
    ember_buf_reset(&b);
    FUZZ_CHECK(ember_render_html(&b, t, &m, NULL) == 0);
    check(&b, true);
    ember_buf_reset(&b);
    /* With the function table, whose totals never pass the whole. */
    ember_functions_t f1, f2;
    FUZZ_CHECK(ember_functions_compute(t, 1, 50, &f1, NULL) == 0);
    FUZZ_CHECK(ember_functions_compute(t, 2, 50, &f2, NULL) == 0);
    for (size_t i = 0; i < f2.n; i++)
      for (int s = 0; s < 2; s++) {
        FUZZ_CHECK(f2.items[i].total[s] <= ember_tree_total(t, s));
        FUZZ_CHECK(f2.items[i].self[s] <= f2.items[i].total[s]);
      }
    m.functions = &f1;
    FUZZ_CHECK(ember_render_single(&b, t, &m, NULL) == 0);
    FUZZ_CHECK(b.len <= ember_flamebearer_bound(t, &m, NULL, false));
    ember_buf_reset(&b);
    m.functions = &f2;
    FUZZ_CHECK(ember_render_double(&b, t, &m, &m, NULL) == 0);
    FUZZ_CHECK(b.len <= ember_flamebearer_bound(t, &m, &m, false));
    ember_buf_free(&b);
    ember_functions_free(&f1);
    ember_functions_free(&f2);
  }
  ember_tree_free(right);
  ember_tree_free(t);
  return 0;
}
