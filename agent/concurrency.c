/* The adaptive concurrency controller (see concurrency.h for the rules): a concurrency limit moved by
 * AIMD on round trips and back pressure, and a rate cap learned from 429 answers. No clock of its own,
 * no timers: it changes only when the sender tells it about a request, so an idle agent costs nothing. */
#include "concurrency.h"

#include <math.h>
#include <stdlib.h>

#define US_PER_S 1000000.0
#define EWMA_ALPHA 0.4     /* weight of a new window in the baseline (Vector's default) */
#define DEV_SCALE 2.5      /* round trips this many deviations above the baseline have grown... */
#define MIN_GROWTH 0.1     /* ...and at least this fraction of it: a constant link has no deviation */
#define WAIT_SHARE 0.5     /* growth needs requests waiting for a slot this much of a window */
#define GREW_SAMPLES 4     /* round trips a window needs to tell that they grew: one or two slow ones
			    * on a distant link are noise, and would end the slow start for nothing */
#define DECREASE 0.9       /* latency growth and 429 */
#define OVERLOAD_DECREASE 0.5
#define CAP_CUT 0.95       /* after a 429: this fraction of the measured accepted rate */
#define CAP_GROW 0.002     /* then this fraction of it more per second */
#define CAP_DROP 1.25      /* and no cap once it has grown to this fraction */
#define RATE_WINDOW_US 1000000ULL
#define RATE_MIN_ACCEPTED 5 /* fewer accepted requests in a second say too little about a rate */
#define ACCEPTED_RING 512  /* start times of accepted requests kept to measure the rate */
#define MIN_WINDOW_US 25000 /* a window lasts a round trip, and at least this: shorter ones are noise */

struct concurrency {
	unsigned fixed;   /* > 0: the limit never moves */
	unsigned ceiling;
	unsigned limit;
	bool slow_start; /* until the first decrease, growth doubles the limit */
	/* the baseline: EWMA of the windows' average round trips, in microseconds */
	bool have_base;
	double base_mean, base_var;
	/* the current window */
	uint64_t win_start, win_end;
	double win_sum;
	unsigned win_n;
	unsigned win_connected; /* of win_n: requests that opened a connection */
	uint64_t win_waited; /* time with requests waiting for a slot, this window */
	bool waiting;
	uint64_t wait_at;    /* when win_waited was last brought up to date */
	uint64_t last_cut; /* the last decrease for back pressure: at most one per round trip */
	/* the rate */
	uint64_t accepted[ACCEPTED_RING];
	unsigned acc_next, acc_n;
	bool refused_pending;     /* a 429 whose rate is still to be measured */
	uint64_t refused_start;   /* when the refused request started */
	uint64_t refused_at;      /* when its answer came: 429s for requests sent before are echoes */
	double cap_base;    /* the accepted rate measured at the last 429 (requests/s), 0 = no cap */
	uint64_t cap_at;
	uint64_t next_start;
};

struct concurrency *concurrency_new(unsigned fixed, unsigned ceiling)
{
	struct concurrency *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->limit = 1;
	c->slow_start = true;
	concurrency_configure(c, fixed, ceiling);
	return c;
}

void concurrency_free(struct concurrency *c) { free(c); }

void concurrency_configure(struct concurrency *c, unsigned fixed, unsigned ceiling)
{
	if (ceiling < 1)
		ceiling = 1;
	if (ceiling > CONCURRENCY_MAX)
		ceiling = CONCURRENCY_MAX;
	if (fixed > CONCURRENCY_MAX)
		fixed = CONCURRENCY_MAX;
	c->fixed = fixed;
	c->ceiling = ceiling;
	if (fixed) {
		c->limit = fixed;
		c->cap_base = 0;
		c->next_start = 0;
	} else if (c->limit > ceiling) {
		c->limit = ceiling;
	}
}

unsigned concurrency_limit(const struct concurrency *c) { return c->limit; }

void concurrency_waiting(struct concurrency *c, bool waiting, uint64_t now_us)
{
	if (c->waiting && now_us > c->wait_at)
		c->win_waited += now_us - (c->wait_at > c->win_start ? c->wait_at : c->win_start);
	c->waiting = waiting;
	c->wait_at = now_us;
}

uint64_t concurrency_rtt_us(const struct concurrency *c) { return c->have_base ? (uint64_t)c->base_mean : 0; }

double concurrency_rate_cap(const struct concurrency *c, uint64_t now_us)
{
	double f;

	if (c->cap_base <= 0)
		return 0;
	f = CAP_CUT + CAP_GROW * (double)(now_us > c->cap_at ? now_us - c->cap_at : 0) / US_PER_S;
	return f >= CAP_DROP ? 0 : c->cap_base * f;
}

uint64_t concurrency_next_start(const struct concurrency *c) { return c->next_start; }

static void window_reset(struct concurrency *c, uint64_t now_us)
{
	c->win_start = now_us;
	c->win_end = now_us + (c->base_mean > MIN_WINDOW_US ? (uint64_t)c->base_mean : MIN_WINDOW_US);
	c->win_sum = 0;
	c->win_n = 0;
	c->win_connected = 0;
	c->win_waited = 0;
}

/* Did requests wait for a slot most of the window? Only then is the limit what may hold the agent
 * back. Whether more requests in flight help is for the round trips to say: when the agent's own work
 * holds it back, the answers wait to be read and the round trips grow with the limit. */
static bool window_starved(const struct concurrency *c, uint64_t now_us)
{
	return now_us > c->win_start && (double)c->win_waited >= WAIT_SHARE * (double)(now_us - c->win_start);
}

static void note(struct concurrency_change *ret, const struct concurrency *c, unsigned from, const char *why,
		 double rtt_us, uint64_t now_us)
{
	*ret = (struct concurrency_change){
		.from = from,
		.to = c->limit,
		.why = why,
		.rtt_ms = rtt_us / 1000.0,
		.base_ms = c->base_mean / 1000.0,
		.rate_cap = concurrency_rate_cap(c, now_us),
	};
}

/* Requests accepted that started in the second up to start_us: what a limiter of requests per second
 * let through (counted, not divided by the time the agent was sending: after a pause, a limiter's
 * window lets a burst through at once). */
static double accepted_rate(const struct concurrency *c, uint64_t start_us)
{
	uint64_t from = start_us > RATE_WINDOW_US ? start_us - RATE_WINDOW_US : 0, oldest = start_us;
	unsigned n = 0;

	for (unsigned i = 0; i < c->acc_n; i++) {
		uint64_t t = c->accepted[i];

		if (t >= from && t <= start_us) {
			n++;
			oldest = t < oldest ? t : oldest;
		}
	}
	if (n == ACCEPTED_RING && start_us > oldest) /* more than the ring holds: the rate of what it holds */
		return (double)n * US_PER_S / (double)(start_us - oldest);
	return n;
}

/* A 429 for a request sent after the last one: the rate is measured when sending resumes, once every
 * request sent with it has been answered (some of them, accepted, may come back after it). */
static void rate_refused(struct concurrency *c, uint64_t start_us, uint64_t now_us)
{
	if (c->refused_at && start_us < c->refused_at)
		return; /* sent before the last 429 came: the same excess, already answered */
	c->refused_pending = true;
	c->refused_start = start_us;
	c->refused_at = now_us;
}

/* The cap from the last 429: the requests accepted in the second up to the refused one are the server's
 * limit, as near as the agent can tell. A handful says too little (an agent with little to send would
 * cap its next backlog at that): then only the concurrency and Retry-After act. Under a cap, the cap
 * itself was too high. */
static bool rate_cut(struct concurrency *c, uint64_t now_us, struct concurrency_change *ret)
{
	double measured = accepted_rate(c, c->refused_start), cap = concurrency_rate_cap(c, now_us);

	c->refused_pending = false;
	if (cap > 0 && (measured <= 0 || measured > cap))
		measured = cap;
	if (cap <= 0 && measured < RATE_MIN_ACCEPTED)
		return false;
	c->cap_base = measured;
	c->cap_at = now_us;
	note(ret, c, c->limit, "HTTP 429", 0, now_us);
	return true;
}

bool concurrency_started(struct concurrency *c, uint64_t now_us, struct concurrency_change *ret)
{
	bool changed = c->refused_pending && rate_cut(c, now_us, ret);
	double cap = concurrency_rate_cap(c, now_us);
	uint64_t gap, from;

	if (cap <= 0) {
		c->cap_base = 0;
		c->next_start = 0;
		return changed;
	}
	gap = (uint64_t)(US_PER_S / cap);
	/* a start that the loop made late (its timers have a millisecond's resolution, and a busy or
	 * descheduled loop wakes later still) does not push every later one back: up to a gap is made up
	 * (two requests may then go together: over a second the rate holds); after a pause, the spacing
	 * starts again from now */
	from = now_us > gap ? now_us - gap : 0;
	c->next_start = (c->next_start > from ? c->next_start : from) + gap;
	return changed;
}

static bool back_pressure(struct concurrency *c, uint64_t start_us, uint64_t now_us, enum concurrency_signal sig,
			  struct concurrency_change *ret)
{
	unsigned from = c->limit, to;

	if (sig == CONCURRENCY_RATE)
		rate_refused(c, start_us, now_us);

	if (c->limit > 1 && (!c->last_cut || now_us >= c->last_cut + (uint64_t)c->base_mean)) {
		to = (unsigned)((double)c->limit * (sig == CONCURRENCY_RATE ? DECREASE : OVERLOAD_DECREASE));
		c->limit = to < 1 ? 1 : to >= c->limit ? c->limit - 1 : to;
		c->last_cut = now_us;
		c->slow_start = false;
		window_reset(c, now_us);
	}
	if (c->limit == from)
		return false;
	note(ret, c, from, sig == CONCURRENCY_RATE ? "HTTP 429" : "server errors or timeouts", 0, now_us);
	return true;
}

/* The end of a window: grow, shrink or stay, then fold the window into the baseline. */
/* Under a rate cap, the requests in flight that the capped rate needs at the baseline round trip,
 * twice over: the cap, not the concurrency, holds the rate then, and a limit that slower round trips
 * have worn down to what the cap needs on average would fall short at the next slow one. */
static unsigned capped_floor(const struct concurrency *c, uint64_t now_us)
{
	double need = 2 * concurrency_rate_cap(c, now_us) * c->base_mean / US_PER_S;

	return need < 1 ? 1 : need > c->ceiling ? c->ceiling : (unsigned)ceil(need);
}

/* Did the window's round trips hold? At most the baseline; in the slow start, not clearly above it: a
 * doubling itself lengthens round trips a little (the new requests start one after the other, while
 * the agent maps their batches), and waiting for the baseline to catch up would cost a window or two
 * at each step of the climb. */
static bool held(const struct concurrency *c, double cur, double tol)
{
	return cur <= c->base_mean || (c->slow_start && cur < c->base_mean + tol);
}

static bool window_end(struct concurrency *c, uint64_t now_us, struct concurrency_change *ret)
{
	unsigned from = c->limit, floor = capped_floor(c, now_us);
	double cur = c->win_n ? c->win_sum / c->win_n : 0, tol = DEV_SCALE * sqrt(c->base_var), diff;
	const char *why = NULL;
	/* some requests opened connections, not all: their handshakes weigh on the others' round trips */
	bool connecting = c->win_connected && c->win_connected < c->win_n;

	if (tol < MIN_GROWTH * c->base_mean)
		tol = MIN_GROWTH * c->base_mean;
	if (!c->fixed && c->win_n && window_starved(c, now_us) && (held(c, cur, tol) || c->limit < floor) &&
	    c->limit < c->ceiling) {
		c->limit = c->slow_start ? (c->limit * 2 < c->ceiling ? c->limit * 2 : c->ceiling) : c->limit + 1;
		why = "round trips near the baseline";
	} else if (!c->fixed && !connecting && c->win_n >= GREW_SAMPLES && cur >= c->base_mean + tol &&
		   c->limit > floor) {
		unsigned to = (unsigned)((double)c->limit * DECREASE);

		c->limit = to < floor ? floor : to >= c->limit ? c->limit - 1 : to;
		c->slow_start = false;
		why = "round trips grew";
	}
	if (why)
		note(ret, c, from, why, cur, now_us);
	if (c->win_n && !connecting) {
		diff = cur - c->base_mean;
		c->base_mean += EWMA_ALPHA * diff;
		c->base_var = (1 - EWMA_ALPHA) * (c->base_var + diff * EWMA_ALPHA * diff);
	}
	window_reset(c, now_us);
	return why != NULL;
}

bool concurrency_result(struct concurrency *c, uint64_t start_us, uint64_t now_us, enum concurrency_signal sig,
			struct concurrency_change *ret)
{
	bool changed = false;

	if (sig == CONCURRENCY_OK || sig == CONCURRENCY_OK_CONNECTED) {
		c->win_sum += (double)(now_us > start_us ? now_us - start_us : 0);
		c->win_n++;
		c->win_connected += sig == CONCURRENCY_OK_CONNECTED;
		c->accepted[c->acc_next] = start_us;
		c->acc_next = (c->acc_next + 1) % ACCEPTED_RING;
		if (c->acc_n < ACCEPTED_RING)
			c->acc_n++;
	}
	if (!c->fixed && (sig == CONCURRENCY_RATE || sig == CONCURRENCY_OVERLOAD))
		changed = back_pressure(c, start_us, now_us, sig, ret);
	if (!c->have_base) {
		if (c->win_n) { /* the first round trip sets the baseline and is the first window */
			c->base_mean = c->win_sum / c->win_n;
			c->base_var = 0;
			c->have_base = true;
			c->win_start = start_us;
			changed |= window_end(c, now_us, ret);
		}
		return changed;
	}
	if (now_us >= c->win_end)
		changed |= window_end(c, now_us, ret);
	return changed;
}
