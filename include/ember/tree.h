/*
 * tree.h - the call tree: Ember's in-memory model of a profile.
 *
 * Every profile, whether parsed from an agent's push or read back from the
 * store, becomes one ember_tree_t: nodes are frames, a path from the root is a
 * stack, and each node carries a self value (samples whose leaf is this frame)
 * and a total (self plus all descendants). Frame names are interned once per
 * tree.
 *
 * Each node has two value columns ("sides"). Single profiles use side 0; the
 * diff view merges the left query into side 0 and the right into side 1 of
 * one tree, so one shape serves /render and /render-diff alike.
 *
 * Invariants (checked by ember_tree_check):
 *  1. Node 0 is the root; it has no parent and its name is "total".
 *  2. A node's parent has a smaller id than the node, so walking ids upwards
 *     visits parents before children.
 *  3. No two children of one parent share a name.
 *  4. total[s] == self[s] + sum of the children's total[s], for both sides,
 *     whenever a total is read (totals are settled lazily, in one O(n) pass
 *     at the first read after values were added).
 */
#ifndef EMBER_TREE_H
#define EMBER_TREE_H

#include "ember/common.h"

#define EMBER_TREE_ROOT 0u
#define EMBER_TREE_NONE UINT32_MAX
#define EMBER_TREE_SIDES 2

typedef struct ember_tree ember_tree_t;

typedef struct {
  uint32_t parent;       /* EMBER_TREE_NONE for the root */
  uint32_t name;         /* id in the tree's name table */
  uint32_t first_child;  /* EMBER_TREE_NONE for a leaf */
  uint32_t next_sibling; /* EMBER_TREE_NONE for the last child */
  uint64_t self[EMBER_TREE_SIDES];
  uint64_t total[EMBER_TREE_SIDES];
} ember_tree_node_t;

/* An empty tree holding only the root. Caller frees with ember_tree_free. */
ember_tree_t *ember_tree_new(void);
/* Frees the tree and everything it owns. NULL is accepted. */
void ember_tree_free(ember_tree_t *t);

/* Interns a frame name (any bytes, NUL included) and returns its id; the
 * same bytes always give the same id within one tree. */
uint32_t ember_tree_intern(ember_tree_t *t, const char *name, size_t len);
/* Adds a name the caller knows the tree does not hold (as the distinct
 * frame names of one app's dictionary), without looking: a table of names
 * built fast. The lookup index catches up at the next ember_tree_intern;
 * appending a name already there would give it two ids. */
uint32_t ember_tree_name_append(ember_tree_t *t, const char *name, size_t len);
/* The bytes of a name id, borrowed until the tree is freed. */
ember_slice_t ember_tree_name(const ember_tree_t *t, uint32_t name_id);
size_t ember_tree_name_count(const ember_tree_t *t);

/* The child of parent named name_id, created (with zero values) when absent. */
uint32_t ember_tree_child(ember_tree_t *t, uint32_t parent, uint32_t name_id);
/* The child of parent named name_id, or EMBER_TREE_NONE. */
uint32_t ember_tree_find_child(const ember_tree_t *t, uint32_t parent,
                               uint32_t name_id);

/* Adds value to node's self on one side (and so to the totals of the node
 * and its ancestors, settled at the next read). O(1). Sums saturate at
 * UINT64_MAX instead of wrapping. */
void ember_tree_add(ember_tree_t *t, uint32_t node, int side, uint64_t value);

/* Overwrites node's self and total on one side, leaving its ancestors
 * alone: for code that already knows every total (truncation copies them
 * from a finished tree). The caller restores invariant 4 before the tree is
 * read. */
void ember_tree_set(ember_tree_t *t, uint32_t node, int side, uint64_t self,
                    uint64_t total);

/* Adds one stack (frames root first) with a value on side 0; returns the
 * leaf node. n == 0 adds to the root's self. */
uint32_t ember_tree_add_stack(ember_tree_t *t, const ember_slice_t *frames,
                              size_t n, uint64_t value);

/* Number of nodes, root included. */
size_t ember_tree_count(const ember_tree_t *t);

/* One function (frame name) of a tree: the sum of the self values of its
 * nodes, and its total, counting each sample once even when its stack
 * passes through the function several times (recursion). Per side. */
typedef struct {
  uint32_t name; /* id in the tree's name table */
  uint64_t self[EMBER_TREE_SIDES];
  uint64_t total[EMBER_TREE_SIDES];
} ember_function_t;

/* The sums of every name of t with a non-zero total on one of the first
 * nsides (1 or 2) sides, over every node but the root, in name id order.
 * *out (caller frees) and *n written only on success; EMBER_ETIMEOUT past
 * the calling thread's deadline. O(nodes + names). */
int ember_tree_functions(const ember_tree_t *t, int nsides, ember_function_t **out,
                         size_t *n, ember_err_t *err);
/* Makes room for `nodes` more nodes and `names` more names, so that a tree
 * whose size is known ahead grows without copying. Changes nothing else. */
void ember_tree_reserve(ember_tree_t *t, size_t nodes, size_t names);
/* Bytes the tree has allocated (its arrays' capacities), in O(1): what
 * holding it costs while it waits, say, for the disk. NULL gives 0. */
size_t ember_tree_mem(const ember_tree_t *t);
/* Node by id, borrowed until the next call that adds nodes. */
const ember_tree_node_t *ember_tree_node(const ember_tree_t *t, uint32_t id);
/* Total of the root on one side: the sum of every value in the tree. */
uint64_t ember_tree_total(const ember_tree_t *t, int side);
/* Largest self value of any node on one side. */
uint64_t ember_tree_max_self(const ember_tree_t *t, int side);

/* Adds every value of src's side src_side into dst's side dst_side, matching
 * nodes by their path of names. */
void ember_tree_merge(ember_tree_t *dst, int dst_side, const ember_tree_t *src,
                      int src_side);

/* Writes node's children sorted by name bytes (shorter prefix first, and a
 * child named "other", the truncation bucket, last) into *buf, growing it
 * (caller owns *buf), and returns how many there are. */
size_t ember_tree_sorted_children(const ember_tree_t *t, uint32_t node,
                                  uint32_t **buf, size_t *cap);

/* A copy of t keeping the max_nodes nodes of largest total (side 0 plus
 * side 1), each kept node's other children folded into one child "other"
 * whose total and self are their sum; max_nodes < 0 keeps everything.
 * *out (caller frees) is written only on success; EMBER_ETIMEOUT when the
 * calling thread's deadline passes. */
int ember_tree_truncate(const ember_tree_t *t, long max_nodes, ember_tree_t **out,
                        ember_err_t *err);

/* For the loops of a cut (truncate.c, the store's cut before the tree):
 * EMBER_ETIMEOUT, saying what to narrow, once the calling thread's
 * deadline has passed, looked at every 4096th i. */
int ember_tree_cut_deadline(size_t i, ember_err_t *err);

/* Adds fold[side] to the self and total of node's child "other" (created
 * at zero if it has none): where a cut keeps what it dropped below a kept
 * node. Nothing happens when both sides are zero. */
void ember_tree_add_other(ember_tree_t *t, uint32_t node,
                          const uint64_t fold[EMBER_TREE_SIDES]);

/* ---- Adding stacks with a depth limit ------------------------------------ */

/* The frame that stands for the frames cut from a stack deeper than the
 * depth limit: the stack keeps its max_depth - 1 frames nearest the root
 * and ends in this one, so every stack cut below one node lands in one bar
 * of the flame graph. */
#define EMBER_TREE_TRUNCATED_FRAME "[truncated]"

/* How far down the tree a stack being added has got. A stack deeper than
 * max_depth keeps its first max_depth - 1 frames and ends in the marker
 * frame, so the memory a stack takes is bounded whatever its depth on the
 * wire. Whether the frame at max_depth stays or gives way to the marker is
 * known only when the stack ends, so that frame is held aside (last) until
 * then and never made a node in vain. */
typedef struct {
  uint32_t node;      /* the tree node of the frames so far (or the marker) */
  ember_slice_t last; /* the frame at max_depth, not in the tree yet */
  uint64_t depth;     /* frames so far, the ones cut off included */
} ember_tree_pos_t;

static inline ember_tree_pos_t ember_tree_pos_root(void) {
  ember_tree_pos_t p = {EMBER_TREE_ROOT, {NULL, 0}, 0};
  return p;
}

/* The position one frame (name, which must stay valid as long as the
 * position is used) below p; max_depth >= 1. */
ember_tree_pos_t ember_tree_pos_down(ember_tree_t *t, uint32_t max_depth,
                                     ember_tree_pos_t p, const char *name, size_t len);

/* Adds value (> 0) to p's node on side 0 and returns that node; *cut (may
 * be NULL) tells whether the stack was deeper than max_depth. A value of 0
 * adds nothing and returns EMBER_TREE_NONE. */
uint32_t ember_tree_pos_add(ember_tree_t *t, uint32_t max_depth, ember_tree_pos_t p,
                            uint64_t value, bool *cut);

/* Adds the stack spelled by "a;b;c" (root first, len bytes) with value to
 * side 0, cut at max_depth, and returns its node as ember_tree_pos_add.
 * Empty frames (from "a;;b" or a trailing ';') are skipped; a stack with no
 * frames at all adds to the root's self. */
uint32_t ember_tree_add_text(ember_tree_t *t, uint32_t max_depth, const char *text,
                             size_t len, uint64_t value, bool *cut);

/* Whether "a;b;c" (len bytes) has more than max_depth non-empty frames,
 * that is, whether ember_tree_add_text would cut it. Looks at the frames
 * only when len allows so many. */
bool ember_tree_text_is_cut(const char *text, size_t len, uint32_t max_depth);

/* Returns 0 when invariants 1-4 hold, else -1 with the first violation in
 * err. Meant for tests and debug builds. */
int ember_tree_check(const ember_tree_t *t, ember_err_t *err);

#endif
