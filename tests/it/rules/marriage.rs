//! `MARITAL_STATUS_MISMATCH` (src: `reconcile/rules/marriage.rs`).

use super::harness::*;

fn husband() -> P {
    man("刘强", "1985-01-01", 1)
}

fn wife() -> P {
    woman("陈静", "1987-01-01", 1)
}

/// Husband (RKH) and wife (RKW) both on the register in T1, with the given `hyzk`.
fn couple(h_hyzk: &str, w_hyzk: &str) -> World {
    let mut w = world();
    w.resident("RKH", &husband(), V1)
        .hyzk(h_hyzk)
        .resident("RKW", &wife(), V1)
        .hyzk(w_hyzk);
    w
}

#[test]
fn rules_marital_status_mismatch() {
    let mut t = Table::default();
    let (h, wf) = (husband(), wife());
    let msm = |who: &P, town: &'static str| ("MARITAL_STATUS_MISMATCH", town, sid(who));

    t.check(
        "raised: married on D-30, wife still unmarried",
        couple("20", "10").marriage("JH1", "结婚", &h, &wf, &ago(30)),
        &[msm(&wf, T1)],
    );
    t.check(
        "raised: married, hyzk empty",
        world()
            .resident("RKH", &h, V1)
            .resident("RKW", &wf, V1)
            .hyzk("20")
            .marriage("JH1", "结婚", &h, &wf, &ago(30)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: married on D-29 (no overdue event)",
        couple("10", "10").marriage("JH1", "结婚", &h, &wf, &ago(29)),
        &[],
    );
    t.check(
        "benign: married registered after D",
        couple("10", "10").marriage("JH1", "结婚", &h, &wf, &ago(-1)),
        &[],
    );
    for code in ["20", "21", "22", "23"] {
        t.check(
            &format!("benign: married, hyzk {code}"),
            couple(code, code).marriage("JH1", "结婚", &h, &wf, &ago(300)),
            &[],
        );
    }
    t.check(
        "raised: married, hyzk 90 (not stated)",
        couple("90", "20").marriage("JH1", "结婚", &h, &wf, &ago(300)),
        &[msm(&h, T1)],
    );
    let divorced = |hh: &str, ww: &str, when: i64| {
        let mut w = couple(hh, ww);
        w.marriage("JH1", "结婚", &husband(), &wife(), &ago(400))
            .marriage("LH1", "离婚", &husband(), &wife(), &ago(when));
        w
    };
    t.check(
        "benign: divorce within grace, still 20 (what the overdue events imply)",
        &divorced("20", "20", 10),
        &[],
    );
    t.check(
        "benign: divorce within grace, already 40 (what all events imply)",
        &divorced("40", "40", 10),
        &[],
    );
    t.check(
        "raised: divorce within grace, hyzk 10 agrees with neither",
        &divorced("10", "40", 10),
        &[msm(&h, T1)],
    );
    t.check(
        "raised: divorce overdue, still 20",
        &divorced("20", "40", 30),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: replacement certificate changes nothing",
        couple("20", "21")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[],
    );
    t.check(
        "raised: replacement certificate after a divorce does not re-marry",
        divorced("20", "40", 200).marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: only a replacement certificate: implies no status",
        couple("10", "10").marriage("BL1", "补领结婚证", &h, &wf, &ago(40)),
        &[],
    );
    t.check(
        "benign: annulment undoes the marriage: implies no status",
        couple("10", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(100))
            .marriage("CX1", "撤销婚姻", &h, &wf, &ago(50)),
        &[],
    );
    t.check(
        "benign: marriage overdue, annulled within grace: all events up to D imply no status",
        couple("10", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(100))
            .marriage("CX1", "撤销婚姻", &h, &wf, &ago(10)),
        &[],
    );
    let ex = woman("前妻", "1986-01-01", 2);
    let annulled_second = |hh: &str| {
        let mut w = couple(hh, "10");
        w.marriage(
            "JH0",
            "结婚",
            &husband(),
            &woman("前妻", "1986-01-01", 2),
            &ago(600),
        )
        .marriage(
            "LH0",
            "离婚",
            &husband(),
            &woman("前妻", "1986-01-01", 2),
            &ago(500),
        )
        .marriage("JH1", "结婚", &husband(), &wife(), &ago(100))
        .marriage("CX1", "撤销婚姻", &husband(), &wife(), &ago(50));
        w
    };
    t.check(
        "benign: annulled second marriage: back to divorced (40)",
        &annulled_second("40"),
        &[],
    );
    t.check(
        "raised: annulled second marriage, register still says married",
        &annulled_second("20"),
        &[msm(&h, T1)],
    );
    t.check(
        "raised: an annulment of another couple undoes nothing of this one",
        couple("40", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .marriage("CX9", "撤销婚姻", &h, &ex, &ago(50)),
        &[msm(&h, T1)],
    );

    // Spouse death.
    t.check(
        "raised: wife died on D-30: husband still 20 (and her own record: DEATH_NOT_RECORDED only)",
        couple("20", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .cremation("HH1", &wf, &ago(30), &ago(28)),
        &[msm(&h, T1), ("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    t.check(
        "benign: wife died on D-30, husband widowed (30)",
        couple("30", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .cremation("HH1", &wf, &ago(30), &ago(28)),
        &[("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    for code in ["20", "30"] {
        t.check(
            &format!("benign: wife died within grace, husband {code}"),
            couple(code, "20")
                .marriage("JH1", "结婚", &h, &wf, &ago(400))
                .death_cert("D1", &wf, &ago(29)),
            &[],
        );
    }
    t.check(
        "raised: wife died within grace, husband 10",
        couple("10", "20")
            .marriage("JH1", "结婚", &h, &wf, &ago(400))
            .death_cert("D1", &wf, &ago(29)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: widowed then remarried: 20",
        couple("20", "20")
            .marriage("JH0", "结婚", &h, &ex, &ago(600))
            .cremation("HH0", &ex, &ago(500), &ago(498))
            .marriage("JH1", "结婚", &h, &wf, &ago(100)),
        &[],
    );
    t.check(
        "raised: widowed then remarried, register still 30",
        couple("30", "20")
            .marriage("JH0", "结婚", &h, &ex, &ago(600))
            .cremation("HH0", &ex, &ago(500), &ago(498))
            .marriage("JH1", "结婚", &h, &wf, &ago(100)),
        &[msm(&h, T1)],
    );
    t.check(
        "benign: divorced, then the ex-wife died: still 40",
        divorced("40", "40", 300).cremation("HH1", &wf, &ago(100), &ago(98)),
        &[("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );
    t.check(
        "raised: divorced, then the ex-wife died: 30 is wrong",
        divorced("30", "40", 300).cremation("HH1", &wf, &ago(100), &ago(98)),
        &[msm(&h, T1), ("DEATH_NOT_RECORDED", T1, sid(&wf))],
    );

    // Precedence and routing.
    t.check(
        "precedence: dead (within grace): no MARITAL_STATUS_MISMATCH",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .death_cert("D1", &wf, &ago(5)),
        &[],
    );
    t.check(
        "precedence: moved out (QC within grace): no MARITAL_STATUS_MISMATCH",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .psb("QC", &wf, V1, &ago(5)),
        &[],
    );
    t.check(
        "raised: records in two townships: one in each (RESIDENCE, DUPLICATE beside)",
        couple("20", "10")
            .marriage("JH1", "结婚", &h, &wf, &ago(300))
            .pis_of("RKW2", &wf, V2)
            .hyzk("10"),
        &[
            msm(&wf, T1),
            msm(&wf, T2),
            ("RESIDENCE_MISMATCH", T2, sid(&wf)),
            ("DUPLICATE_RECORD", T2, spids(&["RKW", "RKW2"])),
        ],
    );
    let outsider = man("外地人", "1984-01-01", 3);
    t.check(
        "raised: a person unknown to psb is not off the register: PHANTOM and MARITAL both",
        couple("20", "20")
            .pis_of("RKX", &outsider, V2)
            .hyzk("10")
            .marriage("JH1", "结婚", &outsider, &ex, &ago(100)),
        &[
            msm(&outsider, T2),
            ("PHANTOM_RECORD", T2, sphantom("RKX", &outsider.id)),
        ],
    );
    t.check(
        "benign: no active record (zt 2): no MARITAL ticket (RESIDENT_MISSING instead)",
        world()
            .resident("RKH", &h, V1)
            .hyzk("20")
            .psb("CSH", &wf, V1, "2010-01-01")
            .pis_of("RKW", &wf, V1)
            .hyzk("10")
            .zt(2)
            .marriage("JH1", "结婚", &h, &wf, &ago(300)),
        &[("RESIDENT_MISSING", T1, sid(&wf))],
    );
    t.finish();
}
