/*
 * The statistics behind the report: the one-sided Fisher's exact test that
 * flags a slot failing more often than the others, and nearest-rank
 * percentiles of flashing times.
 *
 * Fisher's test fits the question: with the slot's run count and the line's
 * failure count fixed, how likely is a split at least as lopsided as the one
 * observed if every slot failed at the same rate? It is exact for small counts
 * (a slot with 12 runs) where a normal approximation misleads.
 */
#include "store_internal.h"

#include <math.h>

/* log(n!) through the log-gamma function. */
static double log_factorial(uint64_t n)
{
	return lgamma((double)n + 1.0);
}

/* log of the hypergeometric probability of x failures among n slot runs, when
 * the line had k failures in total runs. */
static double log_hyper(uint64_t x, uint64_t n, uint64_t k, uint64_t total)
{
	return log_factorial(k) - log_factorial(x) - log_factorial(k - x) +
	       log_factorial(total - k) - log_factorial(n - x) - log_factorial(total - k - n + x) -
	       (log_factorial(total) - log_factorial(n) - log_factorial(total - n));
}

double edl_store_fisher_greater(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t n = a + b; /* the slot's runs */
	uint64_t k = a + c; /* failures everywhere */
	uint64_t total = n + c + d;
	uint64_t lo = k + n > total ? k + n - total : 0;
	uint64_t hi = n < k ? n : k;
	double p = 0.0;

	if (a <= lo)
		return 1.0;
	for (uint64_t x = a; x <= hi; x++) {
		double term = exp(log_hyper(x, n, k, total));
		p += term;
		/* Past the mode the terms only shrink; stop once they no longer count. */
		if (term < p * 1e-17)
			break;
	}
	return p > 1.0 ? 1.0 : p;
}

int64_t edl_store_percentile(const int64_t *sorted, size_t n, unsigned pct)
{
	size_t rank;

	if (n == 0)
		return -1;
	if (pct > 100)
		pct = 100;
	/* Nearest rank: the smallest value with at least pct% of values at or below. */
	rank = (size_t)ceil((double)pct / 100.0 * (double)n);
	if (rank == 0)
		rank = 1;
	return sorted[rank - 1];
}
