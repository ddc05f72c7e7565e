/*
 * dict.c - the per-app dictionary of frames and stacks, cached in memory.
 *
 * A segment row stores only (stack id, value) pairs; the dictionary says
 * what a stack id means: stack id -> (parent stack id, frame id), frame id
 * -> name bytes. The tables frames and stacks hold it durably; this file
 * keeps one app's dictionary in memory, loaded lazily, shared by the writer
 * (which adds entries) and the readers (which turn ids back into paths).
 *
 * Invariants:
 *  1. The cache holds exactly the ids [0, n) of frames and of stacks, and
 *     each entry equals the row with that id in the database as seen by the
 *     writer (committed, or added by the writer's open transaction).
 *  2. Ids are dense per app: frames from 0, stacks from 1 (stack 0 is the
 *     empty stack, the root, and has no row); a stack's parent id is smaller
 *     than its own id, so paths resolve by walking down ids.
 *  3. `complete` is set only by the writer after loading everything inside
 *     its transaction; from then on every new id is added through this cache,
 *     so the writer never needs to look in the database again.
 *  4. A rolled-back transaction may have added ids that no longer exist:
 *     the writer then detaches every cache (ember_dicts_drop_all), and the
 *     next user loads a fresh one. Ids committed are never changed, so a
 *     reader holding a detached cache still resolves its snapshot's ids.
 *  5. Readers load (under the write lock) only what their snapshot holds
 *     beyond the cache; those rows are committed, so invariant 1 holds.
 *
 * Locking: a registry mutex guards the app -> dictionary map and reference
 * counts; each dictionary has a writer-preferring rwlock so a stream of
 * readers cannot starve the writer thread.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* Stacks a reader resolves per hold of the read lock. */
#define BUILD_SLICE 4096

/* ---- Types ------------------------------------------------------------- */

typedef struct {
  size_t off;
  uint32_t len;
} frame_ref_t;

typedef struct {
  uint32_t parent;
  uint32_t frame;
} stack_ent_t;

struct ember_dict {
  int64_t app_id;
  int refs;      /* holders other than the registry; registry lock */
  bool attached; /* the registry holds it; registry lock */
  pthread_rwlock_t lock;
  bool complete;

  char *arena; /* frame names back to back */
  size_t arena_len, arena_cap;
  frame_ref_t *frames;
  size_t nframes, frames_cap;
  uint32_t *fslots; /* frame id + 1, 0 = empty */
  size_t fslots_cap;

  stack_ent_t *stacks; /* [0] is the root */
  size_t nstacks, stacks_cap;
  uint32_t *sslots; /* stack id + 1, 0 = empty */
  size_t sslots_cap;
};

struct ember_dicts {
  pthread_mutex_t lock;
  ember_dict_t **items;
  size_t n, cap;
};

static const char SQL_FRAMES_FROM[] =
    "SELECT id, name FROM frames WHERE app_id=?1 AND id>=?2 ORDER BY id";
static const char SQL_STACKS_FROM[] =
    "SELECT id, parent_id, frame_id FROM stacks WHERE app_id=?1 AND id>=?2 "
    "ORDER BY id";
static const char SQL_FRAME_ADD[] =
    "INSERT INTO frames(app_id, id, name) VALUES(?1, ?2, ?3)";
static const char SQL_STACK_ADD[] =
    "INSERT INTO stacks(app_id, id, parent_id, frame_id) VALUES(?1, ?2, ?3, ?4)";

/* ---- Cache ------------------------------------------------------------- */

static bool frame_is(const ember_dict_t *d, uint32_t id, const char *p, size_t n) {
  const frame_ref_t *r = &d->frames[id];
  return r->len == n && (n == 0 || memcmp(d->arena + r->off, p, n) == 0);
}

/* Slot of name in fslots: where it is, or the empty slot it would take. */
static size_t frame_slot(const ember_dict_t *d, const char *p, size_t n) {
  size_t mask = d->fslots_cap - 1;
  size_t i = ember_hash_bytes(p, n) & mask;
  while (d->fslots[i] && !frame_is(d, d->fslots[i] - 1, p, n)) i = (i + 1) & mask;
  return i;
}

static size_t stack_slot(const ember_dict_t *d, uint32_t parent, uint32_t frame) {
  size_t mask = d->sslots_cap - 1;
  size_t i = ember_hash_pair(parent, frame) & mask;
  for (; d->sslots[i]; i = (i + 1) & mask) {
    const stack_ent_t *e = &d->stacks[d->sslots[i] - 1];
    if (e->parent == parent && e->frame == frame) break;
  }
  return i;
}

static void rehash(ember_dict_t *d) {
  if ((d->nframes + 1) * 2 > d->fslots_cap) {
    free(d->fslots);
    d->fslots_cap = d->fslots_cap ? d->fslots_cap * 2 : 64;
    d->fslots = ember_calloc(d->fslots_cap, sizeof *d->fslots);
    for (uint32_t id = 0; id < d->nframes; id++) {
      const frame_ref_t *r = &d->frames[id];
      d->fslots[frame_slot(d, d->arena + r->off, r->len)] = id + 1;
    }
  }
  if ((d->nstacks + 1) * 2 > d->sslots_cap) {
    free(d->sslots);
    d->sslots_cap = d->sslots_cap ? d->sslots_cap * 2 : 64;
    d->sslots = ember_calloc(d->sslots_cap, sizeof *d->sslots);
    for (uint32_t id = 1; id < d->nstacks; id++)
      d->sslots[stack_slot(d, d->stacks[id].parent, d->stacks[id].frame)] = id + 1;
  }
}

/* Appends frame id nframes to the cache (no row). */
static void cache_frame(ember_dict_t *d, const char *p, size_t n) {
  rehash(d);
  size_t slot = frame_slot(d, p, n);
  ember_grow((void **)&d->arena, &d->arena_cap, d->arena_len + n + 1, 1);
  if (n) memcpy(d->arena + d->arena_len, p, n);
  ember_grow((void **)&d->frames, &d->frames_cap, d->nframes + 1, sizeof *d->frames);
  d->frames[d->nframes].off = d->arena_len;
  d->frames[d->nframes].len = (uint32_t)n;
  d->arena_len += n;
  d->fslots[slot] = (uint32_t)d->nframes + 1;
  d->nframes++;
}

static void cache_stack(ember_dict_t *d, uint32_t parent, uint32_t frame) {
  rehash(d);
  size_t slot = stack_slot(d, parent, frame);
  ember_grow((void **)&d->stacks, &d->stacks_cap, d->nstacks + 1, sizeof *d->stacks);
  d->stacks[d->nstacks].parent = parent;
  d->stacks[d->nstacks].frame = frame;
  d->sslots[slot] = (uint32_t)d->nstacks + 1;
  d->nstacks++;
}

static ember_dict_t *dict_new(int64_t app_id) {
  ember_dict_t *d = ember_calloc(1, sizeof *d);
  d->app_id = app_id;
  pthread_rwlockattr_t a;
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&d->lock, &a);
  pthread_rwlockattr_destroy(&a);
  ember_grow((void **)&d->stacks, &d->stacks_cap, 1, sizeof *d->stacks);
  d->stacks[0].parent = UINT32_MAX; /* the root: never looked up by pair */
  d->stacks[0].frame = UINT32_MAX;
  d->nstacks = 1;
  rehash(d);
  return d;
}

static void dict_free(ember_dict_t *d) {
  pthread_rwlock_destroy(&d->lock);
  free(d->arena);
  free(d->frames);
  free(d->fslots);
  free(d->stacks);
  free(d->sslots);
  free(d);
}

/* ---- Loading ----------------------------------------------------------- */

static int corrupt(ember_dict_t *d, ember_err_t *err, const char *what, int64_t id) {
  return ember_err_set(err, EMBER_EIO,
                       "the dictionary of app %lld is corrupt: %s %lld; restore "
                       "the data directory from a backup",
                       (long long)d->app_id, what, (long long)id);
}

static int load_frames(ember_dict_t *d, ember_conn_t *c, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_FRAMES_FROM, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nframes);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    const char *name = sqlite3_column_blob(st, 1);
    int len = sqlite3_column_bytes(st, 1);
    if (id != (int64_t)d->nframes || d->nframes >= UINT32_MAX - 1) {
      rc = corrupt(d, err, "gap before frame id", id);
      break;
    }
    cache_frame(d, name ? name : "", (size_t)len);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "loading frames");
  sqlite3_reset(st);
  return rc;
}

static int load_stacks(ember_dict_t *d, ember_conn_t *c, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_STACKS_FROM, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nstacks);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    int64_t parent = sqlite3_column_int64(st, 1);
    int64_t frame = sqlite3_column_int64(st, 2);
    if (id != (int64_t)d->nstacks || d->nstacks >= UINT32_MAX - 1) {
      rc = corrupt(d, err, "gap before stack id", id);
      break;
    }
    if (parent < 0 || parent >= id || frame < 0 || frame >= (int64_t)d->nframes) {
      rc = corrupt(d, err, "bad parent or frame in stack", id);
      break;
    }
    cache_stack(d, (uint32_t)parent, (uint32_t)frame);
  }
  if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "loading stacks");
  sqlite3_reset(st);
  return rc;
}

/* Loads rows beyond the cache. Write lock held. Frames first: every stack
 * loaded must name a frame already known. */
static int sync_locked(ember_dict_t *d, ember_conn_t *c, ember_err_t *err) {
  int rc = load_frames(d, c, err);
  if (rc == 0) rc = load_stacks(d, c, err);
  return rc;
}

/* ---- Writer side ------------------------------------------------------- */

static int add_frame(ember_dict_t *d, ember_conn_t *c, ember_slice_t name,
                     uint32_t *out, ember_err_t *err) {
  uint32_t v = d->fslots[frame_slot(d, name.base, name.len)];
  if (v) {
    *out = v - 1;
    return 0;
  }
  if (d->nframes >= UINT32_MAX - 1 || name.len > UINT32_MAX)
    return ember_err_set(err, EMBER_EIO, "app %lld has too many frames",
                         (long long)d->app_id);
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_FRAME_ADD, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nframes);
  sqlite3_bind_blob(st, 3, name.len ? name.base : "", (int)name.len, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "adding a frame");
  sqlite3_reset(st);
  if (rc != 0) return rc;
  *out = (uint32_t)d->nframes;
  cache_frame(d, name.base, name.len);
  return 0;
}

static int add_stack(ember_dict_t *d, ember_conn_t *c, uint32_t parent,
                     uint32_t frame, uint32_t *out, ember_err_t *err) {
  uint32_t v = d->sslots[stack_slot(d, parent, frame)];
  if (v) {
    *out = v - 1;
    return 0;
  }
  if (d->nstacks >= UINT32_MAX - 1)
    return ember_err_set(err, EMBER_EIO, "app %lld has too many stacks",
                         (long long)d->app_id);
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_STACK_ADD, &st, err);
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nstacks);
  sqlite3_bind_int64(st, 3, parent);
  sqlite3_bind_int64(st, 4, frame);
  if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "adding a stack");
  sqlite3_reset(st);
  if (rc != 0) return rc;
  *out = (uint32_t)d->nstacks;
  cache_stack(d, parent, frame);
  return 0;
}

int ember_dict_map_tree(ember_dict_t *d, ember_conn_t *c, const ember_tree_t *t,
                        uint32_t *stack_of, ember_err_t *err) {
  int rc = 0;
  size_t nnames = ember_tree_name_count(t), nnodes = ember_tree_count(t);
  uint32_t *frame_of = ember_malloc((nnames ? nnames : 1) * sizeof *frame_of);
  memset(frame_of, 0xff, (nnames ? nnames : 1) * sizeof *frame_of);
  pthread_rwlock_wrlock(&d->lock);
  if (!d->complete) {
    if ((rc = sync_locked(d, c, err)) != 0) goto done;
    d->complete = true;
  }
  stack_of[0] = 0;
  /* Node ids grow from parent to child (tree invariant 2), so one pass in
   * id order always finds the parent's stack already mapped. Nodes without
   * samples (and so without sampled descendants) are not stored. */
  for (uint32_t id = 1; id < nnodes; id++) {
    const ember_tree_node_t *n = ember_tree_node(t, id);
    stack_of[id] = UINT32_MAX;
    if (n->total[0] == 0 || stack_of[n->parent] == UINT32_MAX) continue;
    if (frame_of[n->name] == UINT32_MAX &&
        (rc = add_frame(d, c, ember_tree_name(t, n->name), &frame_of[n->name], err)))
      goto done;
    if ((rc = add_stack(d, c, stack_of[n->parent], frame_of[n->name], &stack_of[id],
                        err)) != 0)
      goto done;
  }
done:
  pthread_rwlock_unlock(&d->lock);
  free(frame_of);
  return rc;
}

/* ---- Reader side ------------------------------------------------------- */

uint32_t ember_dict_nstacks(ember_dict_t *d) {
  pthread_rwlock_rdlock(&d->lock);
  uint32_t n = (uint32_t)d->nstacks;
  pthread_rwlock_unlock(&d->lock);
  return n;
}

int ember_dict_ensure(ember_dict_t *d, ember_conn_t *c, uint32_t need,
                      ember_err_t *err) {
  if (ember_dict_nstacks(d) >= need) return 0;
  pthread_rwlock_wrlock(&d->lock);
  int rc = d->nstacks >= need ? 0 : sync_locked(d, c, err);
  if (rc == 0 && d->nstacks < need)
    rc = ember_err_set(err, EMBER_EIO,
                       "stored data names stack %u, which the dictionary of app "
                       "%lld does not have; the database is damaged",
                       need - 1, (long long)d->app_id);
  pthread_rwlock_unlock(&d->lock);
  return rc;
}

/* The tree node of stack id, creating the path as needed. node_of memoizes
 * stack -> node and name_of frame -> tree name id; path is scratch. The
 * walk is iterative: depth comes from agents and is not bounded. */
static uint32_t resolve(const ember_dict_t *d, uint32_t id, ember_tree_t *t,
                        uint32_t *node_of, uint32_t *name_of, uint32_t **path,
                        size_t *cap) {
  size_t depth = 0;
  uint32_t cur = id;
  while (node_of[cur] == EMBER_TREE_NONE) {
    ember_grow((void **)path, cap, depth + 1, sizeof **path);
    (*path)[depth++] = cur;
    cur = d->stacks[cur].parent;
  }
  uint32_t node = node_of[cur];
  while (depth > 0) {
    uint32_t s = (*path)[--depth];
    uint32_t f = d->stacks[s].frame;
    if (name_of[f] == UINT32_MAX) {
      const frame_ref_t *r = &d->frames[f];
      name_of[f] = ember_tree_intern(t, d->arena + r->off, r->len);
    }
    node = ember_tree_child(t, node, name_of[f]);
    node_of[s] = node;
  }
  return node;
}

void ember_dict_build_tree(ember_dict_t *d, const uint64_t *values, size_t n,
                           ember_tree_t *t, int side) {
  if (n == 0) return;
  pthread_rwlock_rdlock(&d->lock);
  uint32_t *node_of = ember_malloc(n * sizeof *node_of);
  memset(node_of, 0xff, n * sizeof *node_of);
  node_of[0] = EMBER_TREE_ROOT;
  size_t nf = d->nframes ? d->nframes : 1;
  uint32_t *name_of = ember_malloc(nf * sizeof *name_of);
  memset(name_of, 0xff, nf * sizeof *name_of);
  uint32_t *path = NULL;
  size_t cap = 0, done = 0;
  for (size_t id = 0; id < n && id < d->nstacks; id++) {
    if (!values[id]) continue;
    uint32_t node = resolve(d, (uint32_t)id, t, node_of, name_of, &path, &cap);
    ember_tree_add(t, node, side, values[id]);
    /* A big answer is built in slices so the writer, which needs the write
     * lock to add entries, waits for one slice at most. The arrays may move
     * while unlocked; everything is re-read through d afterwards, and ids
     * below n stay valid (invariant 1). */
    if (++done % BUILD_SLICE == 0) {
      pthread_rwlock_unlock(&d->lock);
      pthread_rwlock_rdlock(&d->lock);
    }
  }
  pthread_rwlock_unlock(&d->lock);
  free(node_of);
  free(name_of);
  free(path);
}

/* ---- Registry ---------------------------------------------------------- */

ember_dicts_t *ember_dicts_new(void) {
  ember_dicts_t *r = ember_calloc(1, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  return r;
}

void ember_dicts_free(ember_dicts_t *r) {
  if (!r) return;
  /* By now no reader or writer runs, so every reference is gone. */
  for (size_t i = 0; i < r->n; i++) dict_free(r->items[i]);
  free(r->items);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

ember_dict_t *ember_dicts_get(ember_dicts_t *r, int64_t app_id) {
  pthread_mutex_lock(&r->lock);
  ember_dict_t *d = NULL;
  for (size_t i = 0; i < r->n && !d; i++)
    if (r->items[i]->app_id == app_id) d = r->items[i];
  if (!d) {
    d = dict_new(app_id);
    d->attached = true;
    ember_grow((void **)&r->items, &r->cap, r->n + 1, sizeof *r->items);
    r->items[r->n++] = d;
  }
  d->refs++;
  pthread_mutex_unlock(&r->lock);
  return d;
}

void ember_dicts_put(ember_dicts_t *r, ember_dict_t *d) {
  if (!d) return;
  pthread_mutex_lock(&r->lock);
  bool last = --d->refs == 0 && !d->attached;
  pthread_mutex_unlock(&r->lock);
  if (last) dict_free(d);
}

/* Detaches items[i]; frees it unless someone holds it. Lock held. */
static void detach(ember_dicts_t *r, size_t i) {
  ember_dict_t *d = r->items[i];
  r->items[i] = r->items[--r->n];
  d->attached = false;
  if (d->refs == 0) dict_free(d);
}

void ember_dicts_drop_all(ember_dicts_t *r) {
  pthread_mutex_lock(&r->lock);
  while (r->n) detach(r, r->n - 1);
  pthread_mutex_unlock(&r->lock);
}

void ember_dicts_drop(ember_dicts_t *r, int64_t app_id) {
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->n; i++) {
    if (r->items[i]->app_id == app_id) {
      detach(r, i);
      break;
    }
  }
  pthread_mutex_unlock(&r->lock);
}
