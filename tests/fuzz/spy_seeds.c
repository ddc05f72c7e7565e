/* Writes the seeds of fuzz_spy (corpus/spy/scene311, scene312): the
 * fake_scene() images of tests/spy/fake_python.h with the driver's two
 * header bytes. Not built by CMake; to refresh the seeds, from the build
 * directory:
 *
 *   cc -I../include -I../src -I../tests -o spy_seeds ../tests/fuzz/spy_seeds.c \
 *      libember_core.a -lz -lm && ./spy_seeds ../tests/fuzz/corpus/spy
 */
#include <stdio.h>

#include "spy/fake_python.h"

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: spy_seeds DIR\n");
    return 2;
  }
  for (unsigned minor = 11; minor <= 12; minor++) {
    fake_t f;
    fake_scene_t sc;
    fake_scene(&f, minor, &sc);
    char path[4096];
    snprintf(path, sizeof path, "%s/scene3%u", argv[1], minor);
    FILE *out = fopen(path, "wb");
    if (!out) return 1;
    uint8_t head[2] = {(uint8_t)(minor == 12), 1};
    fwrite(head, 1, 2, out);
    fwrite(f.mem, 1, f.len, out);
    fclose(out);
    fake_free(&f);
  }
  return 0;
}
