/*
 * normalize.h - kube-scheduler's DefaultNormalizeScore shared by scorers that
 * produce counts: scale to 0..100 by the maximum, optionally reversed.
 */
#ifndef K8C_SCHEDULER_NORMALIZE_H
#define K8C_SCHEDULER_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scheduler/framework.h"

static inline void k8c_sched_default_normalize(int64_t *scores, size_t n, bool reverse)
{
        int64_t max = 0;
        for (size_t i = 0; i < n; i++)
                if (scores[i] > max)
                        max = scores[i];
        if (max == 0) {
                if (reverse)
                        for (size_t i = 0; i < n; i++)
                                scores[i] = K8C_SCHED_MAX_NODE_SCORE;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                int64_t s = K8C_SCHED_MAX_NODE_SCORE * scores[i] / max;
                scores[i] = reverse ? K8C_SCHED_MAX_NODE_SCORE - s : s;
        }
}

#endif
