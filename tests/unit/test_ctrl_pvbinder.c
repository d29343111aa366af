/* Unit tests of the PersistentVolume binder's matching (k8c_pv_find_match):
 * smallest fit, storage class, access modes, selector, volumeMode, volumes that
 * are not Available, and volumes pre-bound to a claim. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctrl_fake.h"
#include "k8c/json.h"

static json_t *pv(const char *name, const char *size, const char *modes_csv, const char *cls,
                  const char *phase)
{
        json_t *modes = json_array();
        char buf[128];
        snprintf(buf, sizeof(buf), "%s", modes_csv);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
                json_array_append_new(modes, json_string(t));
        return json_pack("{s:{s:s}, s:{s:{s:s}, s:o, s:s, s:s}, s:{s:s}}", "metadata", "name", name, "spec",
                         "capacity", "storage", size, "accessModes", modes, "storageClassName", cls,
                         "volumeMode", "Filesystem", "status", "phase", phase);
}

static json_t *pvc(const char *size, const char *mode, const char *cls)
{
        return json_pack("{s:{s:s, s:s, s:s}, s:{s:[s], s:{s:{s:s}}, s:s}}", "metadata", "name", "c",
                         "namespace", "ns", "uid", "claim-uid", "spec", "accessModes", mode, "resources",
                         "requests", "storage", size, "storageClassName", cls);
}

static const char *match(json_t *pvs, json_t *claim)
{
        static char name[64];
        json_t *m = k8c_pv_find_match(pvs, claim);
        snprintf(name, sizeof(name), "%s", m != NULL ? k8c_json_get_string(m, "metadata.name") : "(none)");
        json_decref(pvs);
        json_decref(claim);
        return name;
}

static void test_smallest_fit(void **state)
{
        assert_string_equal(match(json_pack("[o, o, o]", pv("a", "10Gi", "ReadWriteOnce", "", "Available"),
                                            pv("b", "2Gi", "ReadWriteOnce", "", "Available"),
                                            pv("c", "1Gi", "ReadWriteOnce", "", "Available")),
                                  pvc("1500Mi", "ReadWriteOnce", "")),
                            "b");
        /* Quantities compare by value, not text. */
        assert_string_equal(match(json_pack("[o, o]", pv("a", "2000M", "ReadWriteOnce", "", "Available"),
                                            pv("b", "2Gi", "ReadWriteOnce", "", "Available")),
                                  pvc("1G", "ReadWriteOnce", "")),
                            "a");
        assert_string_equal(match(json_pack("[o]", pv("a", "1Gi", "ReadWriteOnce", "", "Available")),
                                  pvc("2Gi", "ReadWriteOnce", "")),
                            "(none)");
}

static void test_class_modes_phase(void **state)
{
        assert_string_equal(match(json_pack("[o, o]", pv("a", "1Gi", "ReadWriteOnce", "slow", "Available"),
                                            pv("b", "5Gi", "ReadWriteOnce", "fast", "Available")),
                                  pvc("1Gi", "ReadWriteOnce", "fast")),
                            "b");
        assert_string_equal(match(json_pack("[o, o]", pv("a", "1Gi", "ReadWriteOnce", "", "Available"),
                                            pv("b", "5Gi", "ReadWriteOnce,ReadWriteMany", "", "Available")),
                                  pvc("1Gi", "ReadWriteMany", "")),
                            "b");
        /* Same size: the fewest access modes. */
        assert_string_equal(
                match(json_pack("[o, o]", pv("a", "1Gi", "ReadWriteOnce,ReadOnlyMany", "", "Available"),
                                pv("b", "1Gi", "ReadWriteOnce", "", "Available")),
                      pvc("1Gi", "ReadWriteOnce", "")),
                "b");
        /* Released and Pending volumes are not candidates. */
        assert_string_equal(match(json_pack("[o, o]", pv("a", "1Gi", "ReadWriteOnce", "", "Released"),
                                            pv("b", "1Gi", "ReadWriteOnce", "", "Pending")),
                                  pvc("1Gi", "ReadWriteOnce", "")),
                            "(none)");
        /* Block claims want Block volumes. */
        json_t *claim = pvc("1Gi", "ReadWriteOnce", "");
        json_object_set_new(json_object_get(claim, "spec"), "volumeMode", json_string("Block"));
        assert_string_equal(match(json_pack("[o]", pv("a", "1Gi", "ReadWriteOnce", "", "Available")), claim),
                            "(none)");
}

static void test_selector_and_prebound(void **state)
{
        json_t *gold = pv("g", "9Gi", "ReadWriteOnce", "", "Available");
        json_object_set_new(json_object_get(gold, "metadata"), "labels", json_pack("{s:s}", "tier", "gold"));
        json_t *claim = pvc("1Gi", "ReadWriteOnce", "");
        json_object_set_new(json_object_get(claim, "spec"), "selector",
                            json_pack("{s:{s:s}}", "matchLabels", "tier", "gold"));
        assert_string_equal(
                match(json_pack("[o, o]", pv("a", "1Gi", "ReadWriteOnce", "", "Available"), gold), claim),
                "g");
        /* A volume whose claimRef names the claim wins over a better fit; one bound elsewhere is skipped. */
        json_t *pre = pv("p", "50Gi", "ReadWriteOnce", "", "Available");
        json_object_set_new(json_object_get(pre, "spec"), "claimRef",
                            json_pack("{s:s, s:s}", "namespace", "ns", "name", "c"));
        json_t *other = pv("o", "1Gi", "ReadWriteOnce", "", "Available");
        json_object_set_new(json_object_get(other, "spec"), "claimRef",
                            json_pack("{s:s, s:s, s:s}", "namespace", "ns", "name", "x", "uid", "u2"));
        assert_string_equal(
                match(json_pack("[o, o, o]", other, pv("a", "1Gi", "ReadWriteOnce", "", "Available"), pre),
                      pvc("1Gi", "ReadWriteOnce", "")),
                "p");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_smallest_fit),
                cmocka_unit_test(test_class_modes_phase),
                cmocka_unit_test(test_selector_and_prebound),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
