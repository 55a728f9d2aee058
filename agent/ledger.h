/* The delivery ledger: for every stream of lines (the content of one followed file), how far every line
 * is finished (delivered, skipped or dead-lettered), so that the checkpoint never passes a line that is
 * not. See ledger.c for the invariant and why it holds.
 *
 * Vocabulary: a stream is one file's content as read from offset 0 (a truncated file starts a new
 * stream); a line is [offset, end) of a stream, end just past its LF. The reader hands out lines in
 * order; each gets exactly one of ledger_mark (it is in a batch), ledger_skip (it needs no delivery), in
 * that order. A batch is finished with ledger_complete once the server accepted or the dead-letter file
 * holds every one of its events. */
#ifndef ONSIDE_LEDGER_H
#define ONSIDE_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ledger;
struct ledger_stream;
struct ledger_batch;

/* [start, end) of a stream: lines already written to the dead-letter file. */
struct ledger_range {
	uint64_t start, end;
};

struct ledger *ledger_new(void);
/* Frees everything, also streams and batches that never finished (shutdown). */
void ledger_free(struct ledger *l);

/* A stream whose lines before committed are finished; dead (sorted, may be NULL) are lines past
 * committed already in the dead-letter file (from the checkpoint). input and path name the stream in
 * dead-letter records; they are copied. */
struct ledger_stream *ledger_open(struct ledger *l, uint64_t committed, const struct ledger_range *dead,
				  size_t ndead, const char *input, const char *path);
/* The reader lets go of s (file closed for good, or truncated: its old content). s stays alive while
 * batches hold lines of it, and is freed once they finish. */
void ledger_close(struct ledger_stream *s);
/* The file was renamed, or moved to another input by a reload. */
void ledger_rename(struct ledger_stream *s, const char *input, const char *path);
/* The stream's first-line fingerprint (hex), once known: it goes with dead-letter records. */
void ledger_set_fingerprint(struct ledger_stream *s, const char *fp);

/* A new batch, open until ledger_complete. */
struct ledger_batch *ledger_batch_new(struct ledger *l);
/* The next line of s, ending at end, is an event of b. */
void ledger_mark(struct ledger_stream *s, struct ledger_batch *b, uint64_t end);
/* The next line of s, ending at end, needs no delivery: skipped, or dead-lettered (then also
 * ledger_reject it). */
void ledger_skip(struct ledger_stream *s, uint64_t end);
/* The line [offset, end) of s is in the dead-letter file (a parse failure, or an event of a batch that
 * the server rejected alone): a re-read after a restart must not write it again. */
void ledger_reject(struct ledger_stream *s, uint64_t offset, uint64_t end);
/* Every event of b is delivered or dead-lettered. b is not to be used after this. */
void ledger_complete(struct ledger_batch *b);

/* Moves committed offsets over finished batches (only streams with lines in batches are looked at)
 * and frees streams nobody needs. Returns true if any committed offset moved since the last call
 * (also through ledger_skip). */
bool ledger_advance(struct ledger *l);

/* The line of s that starts at offset is already in the dead-letter file (a re-read after a restart). */
bool ledger_rejected(const struct ledger_stream *s, uint64_t offset);
uint64_t ledger_committed(const struct ledger_stream *s);
/* Lines of s are in batches that have not finished. */
bool ledger_busy(const struct ledger_stream *s);
/* Unix time of the last delivery that moved s's committed offset (0: never). */
int64_t ledger_last_delivery(const struct ledger_stream *s);
/* As the checkpoint recorded it (a restart keeps the time of the last delivery). */
void ledger_set_last_delivery(struct ledger_stream *s, int64_t t);
/* Unix time the oldest unfinished line of s was read (it waits in a batch), or 0 when every line read
 * is finished. */
int64_t ledger_oldest_read(const struct ledger_stream *s);
/* For lines not read yet (the agent holds back while the API is slow): unread says whether s's file
 * has bytes past what was read now; returns since when that has been seen, as first noted and until
 * the committed offset moves (0 when it has not). */
int64_t ledger_unread_since(struct ledger_stream *s, bool unread, int64_t now);
/* Dead-lettered lines past the committed offset, sorted, for the checkpoint. */
const struct ledger_range *ledger_dead(const struct ledger_stream *s, size_t *ret_n);
const char *ledger_input(const struct ledger_stream *s);
const char *ledger_path(const struct ledger_stream *s);
const char *ledger_fingerprint(const struct ledger_stream *s);

#endif
