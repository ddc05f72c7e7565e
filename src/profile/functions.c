/*
 * functions.c - the sums of every function (frame name) of a whole tree
 * (ember_tree_functions, tree.h): what the function table of /render is
 * ranked from (src/query/functions.c), and what the store computes the same
 * way on stack ids when it never builds the whole tree (src/store/cut.c).
 *
 * Self is the sum of the self values of every node with the name. Total is
 * the sum of the totals of the nodes with the name that have no ancestor of
 * the same name: on a recursive stack (a;b;a;c) the inner a's samples are
 * already in the outer a's total, so a sample counts once however often its
 * stack passes through the function. A total therefore never exceeds its
 * side's total, and a function's share of the total is a true share.
 *
 * One walk over the tree, in constant extra memory per name: a counter per
 * name of how often it is on the current path (entering a node whose name
 * is not on the path yet adds its total). The walk follows the tree's
 * child and sibling links and climbs back through parent links, so it needs
 * no stack however deep the tree is.
 */
#include "ember/tree.h"

#include <stdlib.h>
#include <string.h>

/* EMBER_ETIMEOUT once the deadline has passed, looking every 4096th i. */
static int deadline(size_t i, ember_err_t *err) {
  if (i % 4096 || !ember_deadline_passed()) return EMBER_OK;
  return ember_err_set(err, EMBER_ETIMEOUT,
                       "the query ran out of time while counting the functions; narrow "
                       "the time range or the selector, or lower maxNodes");
}

/* What one walk gathers for one name: its sums, and how many nodes of
 * that name are on the current path (in one place: the walk touches both
 * for every node, and a name's entry is one cache line). */
typedef struct {
  uint32_t on_path;
  uint64_t self[EMBER_TREE_SIDES];
  uint64_t total[EMBER_TREE_SIDES];
} acc_t;

/* Enters node id: its self always counts, its total when no ancestor has
 * its name. */
static void enter(const ember_tree_t *t, acc_t *acc, int nsides, uint32_t id) {
  const ember_tree_node_t *nd = ember_tree_node(t, id);
  acc_t *f = &acc[nd->name];
  bool outer = f->on_path++ == 0;
  for (int s = 0; s < nsides; s++) {
    f->self[s] = ember_sat_add(f->self[s], nd->self[s]);
    if (outer) f->total[s] = ember_sat_add(f->total[s], nd->total[s]);
  }
}

/* Depth first over every node but the root (whose name, "total", is no
 * function). Leaving a node is taking it off the path. */
static int walk(const ember_tree_t *t, acc_t *acc, int nsides, ember_err_t *err) {
  const ember_tree_node_t *root = ember_tree_node(t, EMBER_TREE_ROOT);
  uint32_t id = root->first_child;
  size_t visits = 0;
  while (id != EMBER_TREE_NONE) {
    int rc = deadline(++visits, err);
    if (rc) return rc;
    enter(t, acc, nsides, id);
    const ember_tree_node_t *nd = ember_tree_node(t, id);
    if (nd->first_child != EMBER_TREE_NONE) {
      id = nd->first_child;
      continue;
    }
    /* A leaf: leave it and every ancestor whose children are done. */
    for (;;) {
      nd = ember_tree_node(t, id);
      acc[nd->name].on_path--;
      if (nd->next_sibling != EMBER_TREE_NONE) {
        id = nd->next_sibling;
        break;
      }
      id = nd->parent;
      if (id == EMBER_TREE_ROOT) {
        id = EMBER_TREE_NONE;
        break;
      }
    }
  }
  return EMBER_OK;
}

int ember_tree_functions(const ember_tree_t *t, int nsides, ember_function_t **out,
                         size_t *n, ember_err_t *err) {
  nsides = nsides == 2 ? 2 : 1;
  size_t nn = ember_tree_name_count(t), k = 0;
  acc_t *acc = ember_calloc(nn ? nn : 1, sizeof *acc);
  int rc = walk(t, acc, nsides, err);
  ember_function_t *items = NULL;
  if (rc == EMBER_OK) {
    items = ember_malloc((nn ? nn : 1) * sizeof *items);
    for (uint32_t id = 0; id < nn; id++) {
      bool any = false;
      for (int s = 0; s < nsides; s++) any |= acc[id].total[s] != 0;
      if (!any) continue;
      memset(&items[k], 0, sizeof items[k]);
      items[k].name = id;
      memcpy(items[k].self, acc[id].self, sizeof acc[id].self);
      memcpy(items[k].total, acc[id].total, sizeof acc[id].total);
      k++;
    }
    *out = items;
    *n = k;
  }
  free(acc);
  return rc;
}
