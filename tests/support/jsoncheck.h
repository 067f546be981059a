/*
 * Checking test output with an independent JSON reader: Python's json module,
 * run strictly (the bytes must be UTF-8, no raw control characters inside
 * strings, no NaN or Infinity), then a Python assertion over the parsed value
 * `d` (for a file of JSON lines, `d` is the list of parsed lines). Header-only
 * so any test binary can use it; tests that need it skip when python3 is absent.
 */
#ifndef EDL_TEST_JSONCHECK_H
#define EDL_TEST_JSONCHECK_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char edl_test_json_script[] =
        "import json,sys\n"
        "def bad(c):\n"
        "    raise ValueError('not JSON: ' + c)\n"
        "t = open(sys.argv[1], 'rb').read().decode('utf-8')\n"
        "if sys.argv[2] == 'lines':\n"
        "    d = [json.loads(l, parse_constant=bad) for l in t.split('\\n') if l != '']\n"
        "else:\n"
        "    d = json.loads(t, parse_constant=bad)\n"
        "exec(sys.argv[3])\n";

/* True when python3 can be run. */
static inline bool edl_test_have_python(void)
{
	return system("python3 -c 'import json' >/dev/null 2>&1") == 0;
}

/* Parses text[0..n) (one document, or one per line when lines) and runs the
 * Python statement `check` with the result in d. Returns true when both pass;
 * Python's complaint goes to stderr. */
static inline bool edl_test_json_check(const char *text, size_t n, bool lines, const char *check)
{
	char path[] = "/tmp/edl-jsoncheck-XXXXXX";
	int fd = mkstemp(path);
	bool ok = false;

	if (fd < 0)
		return false;
	if (write(fd, text, n) == (ssize_t)n) {
		pid_t pid = fork();
		if (pid == 0) {
			execlp("python3", "python3", "-c", edl_test_json_script, path,
			       lines ? "lines" : "doc", check, (char *)NULL);
			_exit(127);
		}
		int status;
		ok = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		     WEXITSTATUS(status) == 0;
	}
	close(fd);
	unlink(path);
	return ok;
}

#endif
