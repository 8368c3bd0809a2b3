/* risk.h - the last step of the simulated risk engine of the services
 * whose events carry a risk_score (transaction, auth). Each service adds
 * up what the engine sees in one event; this adds the engine's noise and
 * misfires, so normal events can score high and anomalies low, and the
 * score never gives the label away. Pure: draws only from r. */
#ifndef BM_COMMON_RISK_H
#define BM_COMMON_RISK_H

#include "rng.h"

/* The score reported for an event whose features add up to s: plus
 * normal noise (sd 0.06), plus 0.25-0.60 for 3 % of events of any kind,
 * clamped to [0, 1]. */
double risk_score(double s, struct rng *r);

#endif
