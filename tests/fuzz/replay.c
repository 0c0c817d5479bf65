/*
 * replay — a libFuzzer target run without libFuzzer, by make check: every
 * file in REPLAY_DIR (inputs that once found a bug: tests/fuzz/regress/NAME/)
 * is handed to LLVMFuzzerTestOneInput() once. The target aborts on any
 * disagreement; this program exits 1 when a file cannot be read, 0 when
 * every input passed. With arguments, it replays those files instead.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path);

int main(int argc, char **argv)
{
	struct dirent *e;
	DIR *d;
	int n = 0;

	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			if (replay(argv[i]) < 0)
				return 1;
		return 0;
	}
	d = opendir(REPLAY_DIR);
	if (!d) {
		perror(REPLAY_DIR);
		return 1;
	}
	while ((e = readdir(d))) {
		char path[4096];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", REPLAY_DIR, e->d_name);
		if (replay(path) < 0) {
			closedir(d);
			return 1;
		}
		n++;
	}
	closedir(d);
	printf("%d input(s) from %s replayed\n", n, REPLAY_DIR);
	return n > 0 ? 0 : 1;
}

/* Run the target on the file's bytes: 0, or -1 when it cannot be read. */
static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t n = 0, cap = 0, r;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			data = realloc(data, cap);
			if (!data) {
				fclose(f);
				return -1;
			}
		}
		r = fread(data + n, 1, cap - n, f);
		n += r;
	} while (r > 0);
	fclose(f);
	printf("replaying %s (%zu bytes)\n", path, n);
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, n);
	free(data);
	return 0;
}
