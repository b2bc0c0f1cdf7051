/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standalone driver for the fuzz targets: feeds every file named on the command line (and
 * every regular file below named directories) to LLVMFuzzerTestOneInput once. Lets the corpora
 * replay as ordinary CTest tests under gcc and the sanitizer presets, without libFuzzer.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (16u * 1024u * 1024u)

static int replay_file(const char *path, unsigned *count)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    if (!buf) {
        (void) fclose(f);
        return -1;
    }
    size_t n = fread(buf, 1, REPLAY_MAX_INPUT, f);
    int bad = ferror(f);
    (void) fclose(f);
    if (bad) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        return -1;
    }
    /* Hand over an exact-size copy so ASan sees reads past the end. */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    memcpy(exact, buf, n);
    free(buf);
    (void) LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    (*count)++;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int replay_path(const char *path, unsigned *count)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path, count);

    struct dirent **entries = NULL;
    int n = scandir(path, &entries, NULL, NULL);
    if (n < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char **names = calloc((size_t) n + 1, sizeof(char *));
    int r = names ? 0 : -1;
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (r == 0 && entries[i]->d_name[0] != '.') {
            size_t len = strlen(path) + strlen(entries[i]->d_name) + 2;
            names[k] = malloc(len);
            if (names[k])
                (void) snprintf(names[k++], len, "%s/%s", path, entries[i]->d_name);
            else
                r = -1;
        }
        free(entries[i]);
    }
    free(entries);
    if (names)
        qsort(names, k, sizeof(char *), compare_names);
    for (size_t i = 0; i < k; i++) {
        if (r == 0 && replay_path(names[i], count) < 0)
            r = -1;
        free(names[i]);
    }
    free(names);
    return r;
}

int main(int argc, char **argv)
{
    unsigned count = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++)
        if (replay_path(argv[i], &count) < 0)
            return 1;
    if (count == 0) {
        fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    printf("replayed %u inputs\n", count);
    return 0;
}
