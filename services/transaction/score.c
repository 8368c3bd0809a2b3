/* score.c - transaction service: an event's risk score, status and
 * processing time, from what a bank's risk engine could see of it. */
#include <math.h>

#include "risk.h"
#include "txn_internal.h"

static const double chan_risk[TXN_C_COUNT] = { 0.05, 0.03, 0.02, 0.0, 0.0 };
static const double chan_ms[TXN_C_COUNT] = { 260, 230, 850, 1400, 140 };

/* Only what a bank's risk engine sees in one event, plus noise: so normal
 * events can score high and anomalies low, and the label stays hidden. */
static double risk_of(const struct txn_features *f, const struct txn_rec *e, struct rng *r)
{
    double s = 0.03 + 0.08 * rng_double(r);
    double ratio = (double)e->cents / (double)(f->usual_hi > 0 ? f->usual_hi : 1);

    if (ratio > 0.5)
        s += 0.30 * fmin(1.0, (ratio - 0.5) / 3.5);
    if (e->cents > TXN_HIGH_AMOUNT_CENTS)
        s += 0.15;
    s += chan_risk[e->channel];
    if (f->foreign)
        s += 0.15;
    else if (f->away)
        s += 0.05;
    if (f->local_hour < 5)
        s += 0.08;
    s += f->cat_risk;
    if (e->cents >= 100000 && e->cents % 50000 == 0)
        s += 0.10;
    if (f->new_payee)
        s += 0.06;
    return risk_score(s, r);
}

static int status_of(const struct txn_rec *e, double risk, struct rng *r)
{
    double decline = 0.008 + 0.85 / (1.0 + exp(-(risk - 0.62) * 14.0));
    double pending = 0.0;

    if (e->type == TXN_T_WITHDRAWAL || e->type == TXN_T_TRANSFER)
        decline += 0.006; /* insufficient funds */
    if (rng_chance(r, decline))
        return TXN_ST_DECLINED;
    if (e->type == TXN_T_TRANSFER)
        pending = 0.04;
    else if (e->type == TXN_T_DEPOSIT && e->channel != TXN_C_ATM)
        pending = 0.05;
    else if (e->type == TXN_T_PURCHASE && e->channel == TXN_C_ONLINE)
        pending = 0.01;
    return rng_chance(r, pending) ? TXN_ST_PENDING : TXN_ST_APPROVED;
}

void txn_assess(const struct txn_features *f, struct txn_rec *e, struct rng *r)
{
    double risk = risk_of(f, e, r);
    double ms;

    e->risk_milli = llround(risk * 1000.0);
    e->status = status_of(e, risk, r);
    /* Riskier requests take longer (more checks); declines return early. */
    ms = chan_ms[e->channel] * exp(0.35 * rng_normal(r)) * (1.0 + 0.8 * risk);
    if (e->status == TXN_ST_DECLINED)
        ms *= 0.8;
    e->proc_ms = ms < 5.0 ? 5 : ms > TXN_PROC_MAX_MS ? TXN_PROC_MAX_MS : llround(ms);
}
