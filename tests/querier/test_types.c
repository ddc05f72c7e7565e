/* Tests for src/querier/types.c: Ember's apps as Pyroscope profile types,
 * for every suffix docs/grafana.md lists, and service names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "ember/querier.h"

/* The ID of the first (or only) type of an app. */
static const char *id_of(const char *app, const char *units, uint32_t rate, size_t *n) {
  static ember_profile_type_t t[2];
  *n = ember_profile_types_of(app, units, rate, t);
  return t[0].id;
}

static void test_types_cpu_in_samples_is_two_types(void **state) {
  ember_profile_type_t t[2];
  assert_int_equal(ember_profile_types_of("ride.cpu", "samples", 100, t), 2);
  assert_string_equal(t[0].id, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_int_equal(t[0].scale, 10000000);
  assert_string_equal(t[0].name, "process_cpu");
  assert_string_equal(t[0].sample_type, "cpu");
  assert_string_equal(t[0].sample_unit, "nanoseconds");
  assert_string_equal(t[1].id, "process_cpu:samples:count:cpu:nanoseconds");
  assert_int_equal(t[1].scale, 1);
  /* The period is rounded as the pprof export rounds it. */
  assert_int_equal(ember_profile_types_of("ride.cpu", "samples", 3, t), 2);
  assert_int_equal(t[0].scale, 333333333);
  assert_int_equal(ember_profile_types_of("ride.cpu", "samples", 0, t), 2);
  assert_int_equal(t[0].scale, 10000000);
}

static void test_types_follow_pyroscope_names(void **state) {
  static const struct {
    const char *app, *units, *id;
  } cases[] = {
      {"a.itimer", "samples", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
      {"a.wall", "samples", "wall:wall:nanoseconds:wall:nanoseconds"},
      {"a.cpu", "nanoseconds", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"},
      {"a.inuse_space", "bytes", "memory:inuse_space:bytes:space:bytes"},
      {"a.inuse_objects", "objects", "memory:inuse_objects:count:space:bytes"},
      {"a.alloc_space", "bytes", "memory:alloc_space:bytes:space:bytes"},
      {"a.alloc_objects", "objects", "memory:alloc_objects:count:space:bytes"},
      {"a.goroutines", "goroutines", "goroutines:goroutine:count:goroutine:count"},
      {"a.mutex_count", "lock_samples", "mutex:contentions:count:contentions:count"},
      {"a.mutex_duration", "lock_nanoseconds", "mutex:delay:nanoseconds:contentions:count"},
      {"a.block_count", "lock_samples", "block:contentions:count:contentions:count"},
      {"a.block_duration", "lock_nanoseconds", "block:delay:nanoseconds:contentions:count"},
      {"a.alloc_in_new_tlab_objects", "objects",
       "memory:alloc_in_new_tlab_objects:count:space:bytes"},
      {"a.alloc_in_new_tlab_bytes", "bytes", "memory:alloc_in_new_tlab_bytes:bytes:space:bytes"},
      {"a.alloc_outside_tlab_objects", "objects",
       "memory:alloc_outside_tlab_objects:count:space:bytes"},
      {"a.alloc_outside_tlab_bytes", "bytes",
       "memory:alloc_outside_tlab_bytes:bytes:space:bytes"},
      {"a.alloc_sample_objects", "objects", "memory:alloc_sample_objects:count:space:bytes"},
      {"a.alloc_sample_bytes", "bytes", "memory:alloc_sample_bytes:bytes:space:bytes"},
      {"a.lock_count", "lock_samples", "mutex:contentions:count:mutex:count"},
      {"a.lock_duration", "lock_nanoseconds", "mutex:delay:nanoseconds:mutex:count"},
      {"a.live", "objects", "memory:live:count:objects:count"},
      {"a.queue_depth", "items", "queue_depth:queue_depth:items:queue_depth:items"},
      {"a.odd", "a:b", "odd:odd:a_b:odd:a_b"},
      {"noext", "bytes", "bytes:bytes:bytes:bytes:bytes"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n;
    const char *id = id_of(cases[i].app, cases[i].units, 100, &n);
    if (strcmp(id, cases[i].id)) fail_msg("%s: %s, not %s", cases[i].app, id, cases[i].id);
    /* CPU and wall time in samples are also their samples. */
    assert_int_equal(n, strcmp(cases[i].units, "samples") ? 1 : 2);
    assert_true(ember_profile_type_id_valid(id));
  }
  size_t n;
  assert_string_equal(id_of("noext", "samples", 100, &n),
                      "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
  assert_int_equal(n, 2);
}

static void test_types_service_name_is_the_base_name(void **state) {
  char s[64];
  ember_profile_service_name("ride-sharing-app.cpu", s, sizeof s);
  assert_string_equal(s, "ride-sharing-app");
  ember_profile_service_name("com.example.api.alloc_space", s, sizeof s);
  assert_string_equal(s, "com.example.api");
  ember_profile_service_name("noext", s, sizeof s);
  assert_string_equal(s, "noext");
  ember_profile_service_name("long-name.cpu", s, 5);
  assert_string_equal(s, "long");
}

static void test_types_ids_have_five_parts(void **state) {
  assert_true(ember_profile_type_id_valid("a:b:c:d:e"));
  assert_true(ember_profile_type_id_valid("a::c::"));
  assert_false(ember_profile_type_id_valid(""));
  assert_false(ember_profile_type_id_valid("process_cpu"));
  assert_false(ember_profile_type_id_valid("a:b:c:d:e:delta"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_types_cpu_in_samples_is_two_types),
      cmocka_unit_test(test_types_follow_pyroscope_names),
      cmocka_unit_test(test_types_service_name_is_the_base_name),
      cmocka_unit_test(test_types_ids_have_five_parts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
