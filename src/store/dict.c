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
 *     than its own id, so paths resolve by walking down ids. Every frame a
 *     cached stack names is cached.
 *  3. `complete` is set only by the writer after loading everything inside
 *     its transaction; from then on every new id is added through this cache,
 *     so the writer never needs to look in the database again, and nobody
 *     but the writer appends to it.
 *  4. A rolled-back transaction may have added ids that no longer exist:
 *     the writer then detaches every cache (ember_dicts_drop_all), and the
 *     next user loads a fresh one. Ids committed are never changed, so a
 *     reader holding a detached cache still resolves its snapshot's ids.
 *  5. Readers load (under the write lock) only what their snapshot holds
 *     beyond the cache; those rows are committed, so invariant 1 holds.
 *  6. Nobody holds a dictionary's write lock for more than one slice of
 *     work (SLICE rows loaded or entries added): the writer maps a push in
 *     three phases (look up under the read lock, insert the rows with no
 *     lock, then publish the new entries) and loading goes slice by slice,
 *     so a reader of the app waits for a slice, never for a whole push.
 *
 * The registry maps app ids to dictionaries through a hash table, with the
 * attached dictionaries on a list in order of last use. Their memory is
 * counted (ember_dicts_t.bytes, detached ones included until freed); beyond
 * the configured bound the least recently used ones that nobody holds are
 * detached, exactly as after a deletion, and reloaded when next needed.
 * The most recently used one is spared when it alone passes the bound:
 * reloading a big app's dictionary for each of its pushes would cost
 * seconds each time. It goes at the next trim (ember_dicts_trim, every
 * maintenance pass) that finds it unused since the previous one, so a big
 * dictionary outlives the bound only while its app is busy.
 *
 * Locking: a registry mutex guards the hash table, the use list and the
 * reference counts; each dictionary has a writer-preferring rwlock so a
 * stream of readers cannot starve the writer thread. Byte counts are
 * atomics, updated under the dictionary's write lock, except the line
 * cache's (linecache.c), which only the writer thread touches.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

/* Rows loaded, entries published or stacks resolved per hold of a lock. */
#define SLICE 4096

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
  ember_dicts_t *reg; /* the registry that made it; outlives it */

  /* Registry lock. */
  int refs;                    /* holders other than the registry */
  bool attached;               /* the registry holds it */
  ember_dict_t *newer, *older; /* use list, while attached */
  uint64_t used;               /* the registry's epoch at its last get */

  pthread_rwlock_t lock;
  bool complete;
  size_t bytes; /* what it holds, as counted in reg->bytes */

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

  /* Whole lines to stack ids (linecache.c): the writer's alone, so
   * neither it nor its byte count needs the lock. */
  ember_linecache_t *lines;
  size_t lines_bytes; /* as counted in reg->bytes */
};

struct ember_dicts {
  pthread_mutex_t lock;
  ember_dict_t **slots; /* open addressing on app id; NULL = empty */
  size_t nslots;        /* a power of two, at least twice n */
  size_t n;             /* attached dictionaries */
  ember_dict_t *newest, *oldest;
  size_t max_bytes; /* 0 = no bound */
  uint64_t evictions;
  uint64_t epoch;        /* trims so far */
  atomic_size_t bytes;   /* every live dictionary, attached or not */
  atomic_ullong changes; /* entries published by the writer */
};

static const char SQL_FRAMES_FROM[] =
    "SELECT id, name FROM frames WHERE app_id=?1 AND id>=?2 ORDER BY id LIMIT ?3";
static const char SQL_STACKS_FROM[] =
    "SELECT id, parent_id, frame_id FROM stacks WHERE app_id=?1 AND id>=?2 "
    "ORDER BY id LIMIT ?3";
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

/* Brings reg->bytes up to date with what d holds now. Write lock held (or
 * d not shared yet). */
static void account(ember_dict_t *d) {
  size_t now = sizeof *d + d->arena_cap + d->frames_cap * sizeof *d->frames +
               d->fslots_cap * sizeof *d->fslots + d->stacks_cap * sizeof *d->stacks +
               d->sslots_cap * sizeof *d->sslots;
  if (now >= d->bytes)
    atomic_fetch_add(&d->reg->bytes, now - d->bytes);
  else
    atomic_fetch_sub(&d->reg->bytes, d->bytes - now);
  d->bytes = now;
}

static ember_dict_t *dict_new(ember_dicts_t *r, int64_t app_id) {
  ember_dict_t *d = ember_calloc(1, sizeof *d);
  d->app_id = app_id;
  d->reg = r;
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
  account(d);
  return d;
}

static void dict_free(ember_dict_t *d) {
  atomic_fetch_sub(&d->reg->bytes, d->bytes + d->lines_bytes);
  ember_linecache_free(d->lines);
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

/* Loads up to SLICE frames beyond the cache; *got = how many. */
static int load_frames(ember_dict_t *d, ember_conn_t *c, size_t *got, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_FRAMES_FROM, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nframes);
  sqlite3_bind_int(st, 3, SLICE);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t id = sqlite3_column_int64(st, 0);
    const char *name = sqlite3_column_blob(st, 1);
    int len = sqlite3_column_bytes(st, 1);
    if (id != (int64_t)d->nframes || d->nframes >= UINT32_MAX - 1) {
      rc = corrupt(d, err, "gap before frame id", id);
      break;
    }
    cache_frame(d, name ? name : "", (size_t)len);
    (*got)++;
  }
  if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "loading frames");
  sqlite3_reset(st);
  return rc;
}

/* Loads up to SLICE stacks beyond the cache; *got = how many. */
static int load_stacks(ember_dict_t *d, ember_conn_t *c, size_t *got, ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = ember_conn_prepare(c, SQL_STACKS_FROM, &st, err), step;
  if (rc != 0) return rc;
  sqlite3_bind_int64(st, 1, d->app_id);
  sqlite3_bind_int64(st, 2, (int64_t)d->nstacks);
  sqlite3_bind_int(st, 3, SLICE);
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
    (*got)++;
  }
  if (rc == 0 && step != SQLITE_DONE) rc = ember_conn_fail(c, err, "loading stacks");
  sqlite3_reset(st);
  return rc;
}

/* Loads what c sees beyond the cache, one slice per hold of the write lock,
 * until everything is loaded or (need > 0) stacks below need are known.
 * Frames first: every stack loaded must name a frame already known. When
 * mark_complete (the writer, inside its transaction), marks the cache
 * complete once nothing is left. */
static int sync(ember_dict_t *d, ember_conn_t *c, uint32_t need, bool mark_complete,
                ember_err_t *err) {
  /* Most calls find nothing to do: ask under the read lock first, so that
   * a push to a loaded app never waits for readers to make room. */
  pthread_rwlock_rdlock(&d->lock);
  bool loaded = d->complete || (need && d->nstacks >= need);
  pthread_rwlock_unlock(&d->lock);
  if (loaded) return 0;
  for (bool frames = true;;) {
    size_t got = 0;
    pthread_rwlock_wrlock(&d->lock);
    bool enough = d->complete || (need && d->nstacks >= need);
    int rc = 0;
    if (!enough) {
      rc = frames ? load_frames(d, c, &got, err) : load_stacks(d, c, &got, err);
      account(d);
      if (rc == 0 && !frames && got < SLICE && mark_complete) d->complete = true;
    }
    pthread_rwlock_unlock(&d->lock);
    if (rc != 0 || enough) return rc;
    if (got < SLICE) {
      if (!frames) return 0;
      frames = false;
    }
  }
}

/* ---- Writer side ------------------------------------------------------- */

/* A push being mapped: what phase 1 found new, for phases 2 and 3. Ids of
 * new entries are provisional (first_frame + i, first_stack + i) until
 * published, which phase 3 checks. */
typedef struct {
  const ember_tree_t *t;
  uint32_t *frame_of;  /* tree name -> frame id, UINT32_MAX = not yet */
  uint32_t *stack_of;  /* tree node -> stack id, UINT32_MAX = not stored */
  uint32_t *new_names; /* tree names of new frames, in id order */
  size_t nnew_names;
  uint32_t *new_nodes; /* tree nodes of new stacks, in id order */
  size_t nnew_nodes;
  size_t first_frame, first_stack;
  size_t max_new;
} mapping_t;

/* Phase 1 for one node: its frame and stack, known or new. Returns false
 * when the node makes the push pass max_new. Read lock held. */
static bool resolve_node(ember_dict_t *d, mapping_t *m, uint32_t id) {
  const ember_tree_node_t *n = ember_tree_node(m->t, id);
  uint32_t parent = m->stack_of[n->parent];
  m->stack_of[id] = UINT32_MAX;
  /* Nodes without samples (and so without sampled descendants) are not
   * stored. */
  if (n->total[0] == 0 || parent == UINT32_MAX) return true;
  uint32_t *frame = &m->frame_of[n->name];
  if (*frame == UINT32_MAX) {
    ember_slice_t name = ember_tree_name(m->t, n->name);
    uint32_t v = d->fslots[frame_slot(d, name.base, name.len)];
    if (v) {
      *frame = v - 1;
    } else {
      *frame = (uint32_t)(m->first_frame + m->nnew_names);
      m->new_names[m->nnew_names++] = n->name;
    }
  }
  /* A new parent or a new frame makes a new stack without looking. */
  uint32_t v = parent < m->first_stack && *frame < m->first_frame
                   ? d->sslots[stack_slot(d, parent, *frame)]
                   : 0;
  if (v) {
    m->stack_of[id] = v - 1;
    return true;
  }
  if (m->nnew_nodes == m->max_new) return false;
  m->stack_of[id] = (uint32_t)(m->first_stack + m->nnew_nodes);
  m->new_nodes[m->nnew_nodes++] = id;
  return true;
}

/* Phase 1: every node's stack id, looked up in slices under the read lock
 * (after `complete` only this thread appends, so nothing moves between
 * slices). */
static int resolve_all(ember_dict_t *d, mapping_t *m, ember_err_t *err) {
  size_t nnodes = ember_tree_count(m->t);
  m->stack_of[0] = 0;
  pthread_rwlock_rdlock(&d->lock);
  m->first_frame = d->nframes;
  m->first_stack = d->nstacks;
  /* Node ids grow from parent to child (tree invariant 2), so one pass in
   * id order always finds the parent's stack already mapped. */
  for (uint32_t id = 1; id < nnodes; id++) {
    if (!resolve_node(d, m, id)) {
      pthread_rwlock_unlock(&d->lock);
      return ember_err_set(err, EMBER_ELIMIT,
                           "the profile adds more than %zu new stacks to app %lld",
                           m->max_new, (long long)d->app_id);
    }
    if (id % SLICE == 0) {
      pthread_rwlock_unlock(&d->lock);
      pthread_rwlock_rdlock(&d->lock);
    }
  }
  bool room = m->first_frame + m->nnew_names < UINT32_MAX - 1 &&
              m->first_stack + m->nnew_nodes < UINT32_MAX - 1;
  pthread_rwlock_unlock(&d->lock);
  if (!room)
    return ember_err_set(err, EMBER_EIO, "app %lld has too many stacks",
                         (long long)d->app_id);
  return 0;
}

/* Phase 2: the rows of the new entries, in the writer's transaction. No
 * lock: the cache is not touched. */
static int insert_rows(ember_dict_t *d, ember_conn_t *c, const mapping_t *m,
                       ember_err_t *err) {
  sqlite3_stmt *st;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < m->nnew_names; i++) {
    ember_slice_t name = ember_tree_name(m->t, m->new_names[i]);
    if (name.len > UINT32_MAX)
      return ember_err_set(err, EMBER_EINVAL, "a frame name is longer than 4 GiB");
    if ((rc = ember_conn_prepare(c, SQL_FRAME_ADD, &st, err)) != 0) break;
    sqlite3_bind_int64(st, 1, d->app_id);
    sqlite3_bind_int64(st, 2, (int64_t)(m->first_frame + i));
    sqlite3_bind_blob(st, 3, name.len ? name.base : "", (int)name.len, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "adding a frame");
    sqlite3_reset(st);
  }
  for (size_t i = 0; rc == 0 && i < m->nnew_nodes; i++) {
    const ember_tree_node_t *n = ember_tree_node(m->t, m->new_nodes[i]);
    if ((rc = ember_conn_prepare(c, SQL_STACK_ADD, &st, err)) != 0) break;
    sqlite3_bind_int64(st, 1, d->app_id);
    sqlite3_bind_int64(st, 2, (int64_t)(m->first_stack + i));
    sqlite3_bind_int64(st, 3, m->stack_of[n->parent]);
    sqlite3_bind_int64(st, 4, m->frame_of[n->name]);
    if (sqlite3_step(st) != SQLITE_DONE) rc = ember_conn_fail(c, err, "adding a stack");
    sqlite3_reset(st);
  }
  return rc;
}

/* Phase 3: the new entries into the cache, a slice per hold of the write
 * lock, frames before the stacks that name them (invariant 2). */
static int publish(ember_dict_t *d, const mapping_t *m, ember_err_t *err) {
  size_t total = m->nnew_names + m->nnew_nodes;
  for (size_t done = 0; done < total;) {
    pthread_rwlock_wrlock(&d->lock);
    /* The provisional ids are the row ids already written: they must be
     * the next ones, or the cache and the tables would disagree. */
    bool in_step = done < m->nnew_names
                       ? d->nframes == m->first_frame + done
                       : d->nstacks == m->first_stack + (done - m->nnew_names);
    for (size_t k = 0; in_step && k < SLICE && done < total; k++, done++) {
      if (done < m->nnew_names) {
        ember_slice_t name = ember_tree_name(m->t, m->new_names[done]);
        cache_frame(d, name.base, name.len);
      } else {
        const ember_tree_node_t *n =
            ember_tree_node(m->t, m->new_nodes[done - m->nnew_names]);
        cache_stack(d, m->stack_of[n->parent], m->frame_of[n->name]);
      }
    }
    account(d);
    pthread_rwlock_unlock(&d->lock);
    if (!in_step)
      return ember_err_set(err, EMBER_EIO,
                           "the dictionary of app %lld changed while the writer "
                           "added to it",
                           (long long)d->app_id);
  }
  if (total) atomic_fetch_add(&d->reg->changes, 1);
  return 0;
}

int ember_dict_map_tree(ember_dict_t *d, ember_conn_t *c, const ember_tree_t *t,
                        size_t max_new, uint32_t *stack_of, size_t *added,
                        ember_err_t *err) {
  size_t nnames = ember_tree_name_count(t), nnodes = ember_tree_count(t);
  size_t cap_new = nnodes < max_new ? nnodes : max_new;
  mapping_t m = {.t = t, .stack_of = stack_of, .max_new = max_new};
  m.frame_of = ember_malloc((nnames ? nnames : 1) * sizeof *m.frame_of);
  memset(m.frame_of, 0xff, (nnames ? nnames : 1) * sizeof *m.frame_of);
  m.new_names = ember_malloc((nnames ? nnames : 1) * sizeof *m.new_names);
  m.new_nodes = ember_malloc((cap_new ? cap_new : 1) * sizeof *m.new_nodes);
  int rc = sync(d, c, 0, true, err);
  if (rc == 0) rc = resolve_all(d, &m, err);
  if (rc == 0) rc = insert_rows(d, c, &m, err);
  if (rc == 0) rc = publish(d, &m, err);
  if (rc == 0 && added) *added = m.nnew_nodes;
  free(m.frame_of);
  free(m.new_names);
  free(m.new_nodes);
  return rc;
}

ember_linecache_t *ember_dict_linecache(ember_dict_t *d) {
  if (!d->lines) {
    size_t max = d->reg->max_bytes ? d->reg->max_bytes / EMBER_STORE_LINE_CACHE_SHARE
                                   : EMBER_STORE_LINE_CACHE_MAX;
    d->lines = ember_linecache_new(max);
    ember_dict_linecache_account(d);
  }
  return d->lines;
}

void ember_dict_linecache_account(ember_dict_t *d) {
  size_t now = ember_linecache_bytes(d->lines);
  if (now >= d->lines_bytes)
    atomic_fetch_add(&d->reg->bytes, now - d->lines_bytes);
  else
    atomic_fetch_sub(&d->reg->bytes, d->lines_bytes - now);
  d->lines_bytes = now;
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
  if (need == 0 || ember_dict_nstacks(d) >= need) return 0;
  int rc = sync(d, c, need, false, err);
  if (rc == 0 && ember_dict_nstacks(d) < need)
    rc = ember_err_set(err, EMBER_EIO,
                       "stored data names stack %u, which the dictionary of app "
                       "%lld does not have; the database is damaged",
                       need - 1, (long long)d->app_id);
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
  /* Room for the stacks with a value and about as many ancestors: growing
   * a tree of a hundred thousand nodes by doubling copies it many times. */
  size_t nonzero = 0;
  for (size_t id = 0; id < n; id++) nonzero += values[id] != 0;
  ember_tree_reserve(t, 2 * nonzero, nonzero);
  pthread_rwlock_rdlock(&d->lock);
  uint32_t *node_of = ember_malloc(n * sizeof *node_of);
  memset(node_of, 0xff, n * sizeof *node_of);
  node_of[0] = EMBER_TREE_ROOT;
  /* Every frame a stack below n names is below nframes now (invariant 2),
   * and nframes only grows. */
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
    if (++done % SLICE == 0) {
      pthread_rwlock_unlock(&d->lock);
      pthread_rwlock_rdlock(&d->lock);
    }
  }
  pthread_rwlock_unlock(&d->lock);
  free(node_of);
  free(name_of);
  free(path);
}

/* ---- Reader side: numbering a tree before building it ------------------ */

void ember_dict_closure(ember_dict_t *d, const uint64_t *const *values, const size_t *n,
                        int nsides, ember_dict_closure_t *out) {
  size_t max = 0;
  for (int s = 0; s < nsides; s++) max = n[s] > max ? n[s] : max;
  memset(out, 0, sizeof *out);
  /* node_of: stack id -> node, UINT32_MAX while not numbered. */
  uint32_t *node_of = ember_malloc((max ? max : 1) * sizeof *node_of);
  memset(node_of, 0xff, (max ? max : 1) * sizeof *node_of);
  size_t cap = 0, pcap = 0, depth = 0;
  uint32_t *path = NULL;
  node_of[0] = 0;
  ember_grow((void **)&out->stack, &cap, 1, sizeof *out->stack);
  out->parent = ember_malloc(cap * sizeof *out->parent);
  out->frame = ember_malloc(cap * sizeof *out->frame);
  out->stack[0] = 0;
  out->parent[0] = UINT32_MAX;
  out->frame[0] = 0;
  out->n = 1;
  size_t done = 0;
  pthread_rwlock_rdlock(&d->lock);
  for (int s = 0; s < nsides; s++) {
    for (size_t id = 1; id < n[s] && id < d->nstacks; id++) {
      if (!values[s][id] || node_of[id] != UINT32_MAX) continue;
      /* Up to the nearest numbered ancestor, then number the path down from
       * it: parents before children, as ember_dict_build_tree creates them. */
      uint32_t cur = (uint32_t)id;
      depth = 0;
      while (node_of[cur] == UINT32_MAX) {
        ember_grow((void **)&path, &pcap, depth + 1, sizeof *path);
        path[depth++] = cur;
        cur = d->stacks[cur].parent;
      }
      size_t old = cap;
      ember_grow((void **)&out->stack, &cap, out->n + depth, sizeof *out->stack);
      if (cap != old) {
        out->parent = ember_realloc(out->parent, cap * sizeof *out->parent);
        out->frame = ember_realloc(out->frame, cap * sizeof *out->frame);
      }
      while (depth > 0) {
        uint32_t st = path[--depth];
        out->stack[out->n] = st;
        out->frame[out->n] = d->stacks[st].frame;
        out->parent[out->n] = node_of[d->stacks[st].parent];
        node_of[st] = (uint32_t)out->n++;
      }
      /* As in ember_dict_build_tree: the writer waits for a slice at most;
       * ids below n stay valid while unlocked (invariant 1). */
      if (++done % SLICE == 0) {
        pthread_rwlock_unlock(&d->lock);
        pthread_rwlock_rdlock(&d->lock);
      }
    }
  }
  pthread_rwlock_unlock(&d->lock);
  free(node_of);
  free(path);
}

void ember_dict_closure_free(ember_dict_closure_t *c) {
  free(c->stack);
  free(c->parent);
  free(c->frame);
  memset(c, 0, sizeof *c);
}

void ember_dict_intern_frames(ember_dict_t *d, const uint32_t *stacks, size_t n,
                              bool distinct, ember_tree_t *t, uint32_t *names) {
  pthread_rwlock_rdlock(&d->lock);
  for (size_t i = 0; i < n; i++) {
    names[i] = EMBER_TREE_ROOT; /* the root's name, "total" */
    if (stacks[i]) {
      const frame_ref_t *r = &d->frames[d->stacks[stacks[i]].frame];
      names[i] = distinct ? ember_tree_name_append(t, d->arena + r->off, r->len)
                          : ember_tree_intern(t, d->arena + r->off, r->len);
    }
    if ((i + 1) % SLICE == 0) {
      pthread_rwlock_unlock(&d->lock);
      pthread_rwlock_rdlock(&d->lock);
    }
  }
  pthread_rwlock_unlock(&d->lock);
}

/* ---- Registry: hash table ---------------------------------------------- */

static size_t home(const ember_dicts_t *r, int64_t app_id) {
  uint64_t u = (uint64_t)app_id;
  return ember_hash_pair((uint32_t)u, (uint32_t)(u >> 32)) & (r->nslots - 1);
}

/* The slot holding app_id, or the empty slot where it would go. */
static size_t find_slot(const ember_dicts_t *r, int64_t app_id) {
  size_t i = home(r, app_id), mask = r->nslots - 1;
  while (r->slots[i] && r->slots[i]->app_id != app_id)
    i = (i + 1) & mask;
  return i;
}

static void table_grow(ember_dicts_t *r) {
  ember_dict_t **old = r->slots;
  size_t n = r->nslots;
  r->nslots = n ? n * 2 : 64;
  r->slots = ember_calloc(r->nslots, sizeof *r->slots);
  for (size_t i = 0; i < n; i++)
    if (old[i]) r->slots[find_slot(r, old[i]->app_id)] = old[i];
  free(old);
}

/* Empties slot i, moving later entries of its probe run back so that every
 * lookup still finds them (linear probing has no tombstones). */
static void table_remove(ember_dicts_t *r, size_t i) {
  size_t mask = r->nslots - 1;
  r->slots[i] = NULL;
  for (size_t j = (i + 1) & mask; r->slots[j]; j = (j + 1) & mask) {
    size_t h = home(r, r->slots[j]->app_id);
    /* The entry at j may move to i only if its home is not in (i, j]. */
    bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
    if (stays) continue;
    r->slots[i] = r->slots[j];
    r->slots[j] = NULL;
    i = j;
  }
}

/* ---- Registry: use order and eviction ---------------------------------- */

static void lru_unlink(ember_dicts_t *r, ember_dict_t *d) {
  if (d->newer)
    d->newer->older = d->older;
  else
    r->newest = d->older;
  if (d->older)
    d->older->newer = d->newer;
  else
    r->oldest = d->newer;
  d->newer = d->older = NULL;
}

static void lru_push(ember_dicts_t *r, ember_dict_t *d) {
  d->newer = NULL;
  d->older = r->newest;
  if (r->newest)
    r->newest->newer = d;
  else
    r->oldest = d;
  r->newest = d;
}

/* Detaches d (found at slot i); frees it unless someone holds it. Lock
 * held. */
static void detach(ember_dicts_t *r, ember_dict_t *d, size_t i) {
  table_remove(r, i);
  lru_unlink(r, d);
  r->n--;
  d->attached = false;
  if (d->refs == 0) dict_free(d);
}

/* Detaches least recently used dictionaries nobody holds until the bound
 * is met. One held right now stays: detaching it would free nothing. So
 * does the most recently used one unless `trim`; at a trim, only those not
 * used since the previous trim go. */
static void evict(ember_dicts_t *r, bool trim) {
  ember_dict_t *d = r->oldest;
  while (r->max_bytes && d && atomic_load(&r->bytes) > r->max_bytes) {
    ember_dict_t *newer = d->newer;
    bool spared = trim ? d->used >= r->epoch : d == r->newest;
    if (d->refs == 0 && !spared) {
      detach(r, d, find_slot(r, d->app_id));
      r->evictions++;
    }
    d = newer;
  }
}

/* ---- Registry: API ----------------------------------------------------- */

ember_dicts_t *ember_dicts_new(size_t max_bytes) {
  ember_dicts_t *r = ember_calloc(1, sizeof *r);
  pthread_mutex_init(&r->lock, NULL);
  r->max_bytes = max_bytes;
  atomic_init(&r->bytes, 0);
  atomic_init(&r->changes, 0);
  table_grow(r);
  return r;
}

void ember_dicts_free(ember_dicts_t *r) {
  if (!r) return;
  /* By now no reader or writer runs, so every reference is gone. */
  for (size_t i = 0; i < r->nslots; i++)
    if (r->slots[i]) dict_free(r->slots[i]);
  free(r->slots);
  pthread_mutex_destroy(&r->lock);
  free(r);
}

ember_dict_t *ember_dicts_get(ember_dicts_t *r, int64_t app_id) {
  pthread_mutex_lock(&r->lock);
  size_t i = find_slot(r, app_id);
  ember_dict_t *d = r->slots[i];
  if (d) {
    lru_unlink(r, d);
  } else {
    if ((r->n + 1) * 2 > r->nslots) {
      table_grow(r);
      i = find_slot(r, app_id);
    }
    d = r->slots[i] = dict_new(r, app_id);
    d->attached = true;
    r->n++;
  }
  lru_push(r, d);
  d->refs++;
  d->used = r->epoch;
  evict(r, false);
  pthread_mutex_unlock(&r->lock);
  return d;
}

void ember_dicts_put(ember_dicts_t *r, ember_dict_t *d) {
  if (!d) return;
  pthread_mutex_lock(&r->lock);
  bool last = --d->refs == 0 && !d->attached;
  if (d->attached) evict(r, false);
  pthread_mutex_unlock(&r->lock);
  if (last) dict_free(d);
}

void ember_dicts_drop_all(ember_dicts_t *r) {
  pthread_mutex_lock(&r->lock);
  for (size_t i = 0; i < r->nslots; i++) {
    ember_dict_t *d = r->slots[i];
    if (!d) continue;
    r->slots[i] = NULL; /* the whole table empties: no need to shift */
    d->attached = false;
    d->newer = d->older = NULL;
    if (d->refs == 0) dict_free(d);
  }
  r->n = 0;
  r->newest = r->oldest = NULL;
  pthread_mutex_unlock(&r->lock);
}

void ember_dicts_drop(ember_dicts_t *r, int64_t app_id) {
  pthread_mutex_lock(&r->lock);
  size_t i = find_slot(r, app_id);
  if (r->slots[i]) detach(r, r->slots[i], i);
  pthread_mutex_unlock(&r->lock);
}

void ember_dicts_trim(ember_dicts_t *r) {
  pthread_mutex_lock(&r->lock);
  evict(r, true);
  r->epoch++;
  pthread_mutex_unlock(&r->lock);
}

uint64_t ember_dicts_changes(ember_dicts_t *r) {
  return atomic_load(&r->changes);
}

void ember_dicts_stats(ember_dicts_t *r, size_t *bytes, size_t *count,
                       uint64_t *evictions) {
  pthread_mutex_lock(&r->lock);
  if (count) *count = r->n;
  if (evictions) *evictions = r->evictions;
  pthread_mutex_unlock(&r->lock);
  if (bytes) *bytes = atomic_load(&r->bytes);
}
