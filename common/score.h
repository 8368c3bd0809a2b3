/* score.h - scoring a detector's detections against the ground truth:
 * the request (parsed and validated), the tally (events and incidents of
 * a window, which of them were flagged, when) and the answer rendered
 * from it. Pure: the services fill a tally from their store
 * (score_api.c), the gateway merges the services' tallies; both render
 * with score_render(), so the gateway's answer is the services' summed.
 *
 * Definitions (docs/api.md "Scoring"):
 * - event level: an anomalous event of the window is a TP when flagged
 *   (by its id, or by its incident's id), else a FN; a normal event of
 *   the window flagged is a FP, else a TN.
 * - incident level: an incident of the window (one with an event in it)
 *   is found when any of its events in the window is flagged; FP is the
 *   event-level FP (each alarm on a normal event).
 * - per type T: TP/FN of T's events and incidents; FP of the normal
 *   events flagged with "type": T; TN = normal events - FP of T.
 * - time to detect: from the incident's first event to its first
 *   detection (detected_at, else the submission time), never negative.
 * - NAB-style score: each incident found adds SCORE_NAB_TP x
 *   sigma(y), y the first detection's place relative to the incident's
 *   window [start, max(end, start + SCORE_NAB_WINDOW_MS)] (-1 at its
 *   start, 0 at its end, > 0 after), sigma(y) = 2 / (1 + e^(5y)) - 1;
 *   each incident missed adds SCORE_NAB_FN, each FP SCORE_NAB_FP. The
 *   score is 100 x (raw - null) / (perfect - null): a detector that
 *   flags every incident at its first event scores 100, one that flags
 *   nothing 0. Here a detection without detected_at is placed at the
 *   event it flags (an incident id: at the incident's start). */
#ifndef BM_COMMON_SCORE_H
#define BM_COMMON_SCORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_errors.h"
#include "buf.h"
#include "rc.h"

#define SCORE_MAX_DETECTIONS 100000
/* The largest answer (and stored result). */
#define SCORE_BODY_MAX (16 * 1024 * 1024)
#define SCORE_MAX_TYPES 24
#define SCORE_TYPE_MAX 40 /* bytes of a type name, NUL included */
#define SCORE_ID_MAX 64   /* bytes of an id, NUL included */
#define SCORE_FIRST_MAX 5 /* ids listed of those outside the window */
/* A window starting earlier than the oldest stored event, or ending later
 * than the newest, by more than this is beyond the store. */
#define SCORE_SLACK_MS 60000

/* NAB "standard" application profile (Lavin & Ahmad 2015). */
#define SCORE_NAB_TP 1.0
#define SCORE_NAB_FP (-0.11)
#define SCORE_NAB_FN (-1.0)
#define SCORE_NAB_WINDOW_MS 60000 /* shortest anomaly window */

struct cJSON;

/* One detection of a request. id points into the request's JSON tree. */
struct score_det {
    const char *id;
    bool incident;    /* incident_id, else an event id */
    const char *type_name; /* its "type"; NULL: none */
    int type;         /* scorer's: score_type_index() of type_name; -1: none */
    int64_t at_ms;    /* detected_at; -1: none */
    int64_t ev_ms;    /* scorer's: the flagged event's time (-1 until found) */
    uint8_t state;    /* scorer's: enum score_det_state */
};

enum score_det_state { SCORE_DET_UNKNOWN, SCORE_DET_SCORED, SCORE_DET_OUTSIDE,
                       SCORE_DET_DUPLICATE };

/* POST /score's body. */
struct score_req {
    struct cJSON *root; /* owns the strings dets point into */
    struct score_det *dets;
    size_t ndets;
    bool has_from, has_to;
    int64_t from_ms, to_ms;
    bool detail;         /* answer lists its incidents (what the gateway merges) */
    bool report_unknown; /* unknown ids are listed, not an error (the gateway's) */
    bool store;          /* keep the result for GET /score/{id} */
};

/* Parses and validates body; on failure fills f (field names the problem)
 * and returns BM_EINVAL. Types are checked against every service's. */
enum bm_rc score_req_parse(const char *body, size_t len, struct score_req *out,
                           struct api_fail *f) BM_WUR;
void score_req_free(struct score_req *r);

/* An incident of the window as the tally keeps it. */
struct score_incident {
    char id[SCORE_ID_MAX];
    int type;
    int64_t start_ms, end_ms;  /* its first and last event stored */
    int64_t win_start_ms;      /* its first event in the window; -1: none */
    int64_t events;            /* of its events, in the window */
    int64_t flagged;           /* of those, flagged */
    int64_t det_ms;            /* first detection for time to detect; -1: none */
    int64_t nab_ms;            /* first detection for the NAB score; -1: none */
};

struct score_tally {
    int64_t from_ms, to_ms, submitted_ms;
    int ntypes;
    char types[SCORE_MAX_TYPES][SCORE_TYPE_MAX];
    int64_t normal;                      /* normal events in the window */
    int64_t fp_typed[SCORE_MAX_TYPES];   /* FP by declared type */
    int64_t fp_untyped;
    struct score_incident *inc;
    size_t ninc, inc_cap;
    int64_t received, scored, outside, duplicates, mismatched, unknown;
    int noutside_first;
    char outside_first[SCORE_FIRST_MAX][SCORE_ID_MAX];
};

void score_tally_init(struct score_tally *t);
void score_tally_free(struct score_tally *t);
/* Index of the type named name (added if new); -1 when the table is full. */
int score_type_index(struct score_tally *t, const char *name);
/* A new zeroed incident (det_ms, nab_ms -1); NULL on no memory. */
struct score_incident *score_incident_add(struct score_tally *t, const char *id, int type);
/* Notes a detection outside the window: counted, the first few listed. */
void score_note_outside(struct score_tally *t, const char *id);
/* Merges incidents of the same id (one incident across services): sums
 * their events, widens their span, keeps the first detections. Sorts by
 * id. */
void score_tally_merge_dups(struct score_tally *t);

/* sigma(y) of the NAB score. */
double score_nab_sigmoid(double y);
/* The q-quantile (0..1) of n sorted values, nearest rank. */
int64_t score_quantile(const int64_t *sorted, size_t n, double q);

/* Adds a service's answer (rendered with detail) to t, and marks in
 * known[0..n) the detections that service knew. */
enum bm_rc score_tally_add_json(struct score_tally *t, const struct cJSON *answer,
                                uint8_t *known, size_t n) BM_WUR;

/* The answer. id and service head it; created_ms is the wall clock. With
 * req non-NULL and req->detail, it carries the tally (what the gateway
 * merges) and which detections were known. */
enum bm_rc score_render(const struct score_tally *t, const struct score_req *req,
                        const char *id, const char *service, int64_t created_ms,
                        struct buf *out) BM_WUR;

/* A 100-byte-or-so summary of a rendered answer for /metrics: appends
 * ,"last_score":{...} (or null) to the JSON object in out, or Prometheus
 * samples labelled with service when text. answer may be NULL. */
enum bm_rc score_metrics_append(const char *answer, size_t len, bool text, const char *service,
                                struct buf *out) BM_WUR;

#endif
