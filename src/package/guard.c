/*
 * Package mappings guarded against truncation (contract in internal.h). Images
 * are mapped MAP_PRIVATE for the station's lifetime; a file truncated under the
 * station would make the next read of a page past its new end raise SIGBUS and
 * kill the process. The handler here turns that into a flag: it maps anonymous
 * zero pages over the faulting page and the rest of that mapping (mmap is a
 * plain system call, safe in a handler), sets the mapping's atomic flag, and
 * returns, so the read goes on with zeros; edl_package_unchanged() then reports
 * "FILE was truncated" and the station fails the unit or stops the line.
 *
 * The registry is a chain of fixed blocks of slots that are never freed: the
 * handler walks it without a lock, writers take a mutex. A slot is cleared
 * (start = 0) before its mapping is unmapped. Any SIGBUS outside a registered
 * mapping (or one sent with kill) gets the action that was installed before
 * ours, so the default still kills the process with a core.
 */
#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUARD_BLOCK_SLOTS 256

struct pkg_guard {
	_Atomic uintptr_t start; /* 0: free */
	_Atomic size_t len;
	atomic_int truncated;
};

struct guard_block {
	struct pkg_guard slot[GUARD_BLOCK_SLOTS];
	struct guard_block *_Atomic next;
};

static struct guard_block first_block;
static pthread_mutex_t guard_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous_action;
static bool installed;
static uintptr_t page_size = 4096;

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;

	(void)ctx;
	for (struct guard_block *b = &first_block; si->si_code > 0 && b != NULL;
	     b = atomic_load(&b->next)) {
		for (size_t i = 0; i < GUARD_BLOCK_SLOTS; i++) {
			struct pkg_guard *g = &b->slot[i];
			uintptr_t start = atomic_load(&g->start);
			size_t len = atomic_load(&g->len);
			uintptr_t page, end;

			if (start == 0 || addr < start || addr - start >= len)
				continue;
			page = addr & ~(page_size - 1);
			end = (start + len + page_size - 1) & ~(page_size - 1);
			if (mmap((void *)page, end - page, PROT_READ,
			         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
				break; /* cannot repair: die as before */
			atomic_store(&g->truncated, 1);
			return;
		}
	}
	/* Not ours: the action that was there before (default: terminate, core). */
	sigaction(SIGBUS, &previous_action, NULL);
	if (si->si_code <= 0)
		raise(sig); /* sent by kill/raise: a hardware fault would repeat by itself */
}

static void install_locked(void)
{
	struct sigaction sa, cur;
	long ps = sysconf(_SC_PAGESIZE);

	/* Installed once, and again if someone replaced it since (a test harness
	 * that restores its own handlers, a library): a new mapping is guarded. */
	if (installed && sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	    cur.sa_sigaction == on_sigbus)
		return;
	if (ps > 0)
		page_size = (uintptr_t)ps;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &previous_action) == 0)
		installed = true;
}

struct pkg_guard *pkg_guard_add(const void *start, size_t len)
{
	struct guard_block *b = &first_block;
	struct pkg_guard *found = NULL;

	if (start == NULL || len == 0)
		return NULL;
	pthread_mutex_lock(&guard_mu);
	install_locked();
	for (;;) {
		for (size_t i = 0; i < GUARD_BLOCK_SLOTS && found == NULL; i++) {
			if (atomic_load(&b->slot[i].start) == 0)
				found = &b->slot[i];
		}
		if (found != NULL)
			break;
		if (atomic_load(&b->next) == NULL) {
			struct guard_block *n = calloc(1, sizeof(*n));
			if (n == NULL)
				break; /* unguarded: a truncation kills, as before */
			atomic_store(&b->next, n);
		}
		b = atomic_load(&b->next);
	}
	if (found != NULL) {
		atomic_store(&found->truncated, 0);
		atomic_store(&found->len, len);
		atomic_store(&found->start, (uintptr_t)start);
	}
	pthread_mutex_unlock(&guard_mu);
	return found;
}

void pkg_guard_remove(struct pkg_guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&guard_mu);
	atomic_store(&g->start, 0);
	atomic_store(&g->len, 0);
	pthread_mutex_unlock(&guard_mu);
}

bool pkg_guard_truncated(const struct pkg_guard *g)
{
	return g != NULL && atomic_load(&((struct pkg_guard *)g)->truncated) != 0;
}
