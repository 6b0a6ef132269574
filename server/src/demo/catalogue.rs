//! Static reference data for the demo practice: names, SNOMED CT concepts and terms for
//! problems, allergies, immunisations and consultations, medicines with dosages, pathology test
//! definitions with UK reference ranges, letter templates and message conversations.
//!
//! Problem, allergy, immunisation, encounter and pathology codes are SNOMED CT concepts used in
//! English primary care. Medicine codes are dm+d virtual medicinal product (VMP) ids: the ones
//! marked `checked` were confirmed against published dm+d extracts; the others are best-effort
//! and only need to look like dm+d ids to a client (they are demo data, never prescribing data).

use crate::db::entities::patients::Sex;

/// A medicine as the practice prescribes it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Drug {
    /// dm+d VMP id.
    pub snomed: &'static str,
    /// dm+d name.
    pub name: &'static str,
    /// Dosage instructions as printed on the label.
    pub dosage: &'static str,
    /// Quantity of one issue.
    pub quantity: &'static str,
    /// Days one issue lasts.
    pub days: i64,
    /// Whether the patient may order it online when it is on repeat.
    pub requestable: bool,
}

const fn drug(
    snomed: &'static str,
    name: &'static str,
    dosage: &'static str,
    quantity: &'static str,
    days: i64,
) -> Drug {
    Drug {
        snomed,
        name,
        dosage,
        quantity,
        days,
        requestable: true,
    }
}

// Cardiovascular.
pub(super) const AMLODIPINE_5: Drug = drug(
    "319283006", // checked
    "Amlodipine 5mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const RAMIPRIL_5: Drug = drug(
    "318906000",
    "Ramipril 5mg capsules",
    "Take one capsule once a day",
    "28 capsule",
    28,
);
pub(super) const RAMIPRIL_2_5: Drug = drug(
    "318901005",
    "Ramipril 2.5mg capsules",
    "Take one capsule once a day",
    "28 capsule",
    28,
);
pub(super) const LOSARTAN_50: Drug = drug(
    "318955005",
    "Losartan 50mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const INDAPAMIDE_2_5: Drug = drug(
    "317944008",
    "Indapamide 2.5mg tablets",
    "Take one tablet each morning",
    "28 tablet",
    28,
);
pub(super) const ATORVASTATIN_20: Drug = drug(
    "320000009",
    "Atorvastatin 20mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);
pub(super) const ATORVASTATIN_80: Drug = drug(
    "320030008",
    "Atorvastatin 80mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);
pub(super) const SIMVASTATIN_40: Drug = drug(
    "320006009",
    "Simvastatin 40mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);
pub(super) const ASPIRIN_75: Drug = drug(
    "319770002",
    "Aspirin 75mg dispersible tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const BISOPROLOL_2_5: Drug = drug(
    "318590006",
    "Bisoprolol 2.5mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const GTN_SPRAY: Drug = Drug {
    snomed: "319115006",
    name: "Glyceryl trinitrate 400micrograms/dose pump sublingual spray",
    dosage: "One or two sprays under the tongue when required for chest pain",
    quantity: "1 x 200 dose",
    days: 180,
    requestable: true,
};
pub(super) const APIXABAN_5: Drug = drug(
    "703907004",
    "Apixaban 5mg tablets",
    "Take one tablet twice a day",
    "56 tablet",
    28,
);
pub(super) const EDOXABAN_60: Drug = drug(
    "708189003",
    "Edoxaban 60mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const CLOPIDOGREL_75: Drug = drug(
    "317957009",
    "Clopidogrel 75mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const FUROSEMIDE_40: Drug = drug(
    "317972000",
    "Furosemide 40mg tablets",
    "Take one tablet each morning",
    "28 tablet",
    28,
);

// Diabetes.
pub(super) const METFORMIN_500: Drug = drug(
    "325278007", // checked
    "Metformin 500mg tablets",
    "Take one tablet twice a day with food",
    "56 tablet",
    28,
);
pub(super) const GLICLAZIDE_80: Drug = drug(
    "325238008",
    "Gliclazide 80mg tablets",
    "Take one tablet twice a day with breakfast and evening meal",
    "56 tablet",
    28,
);

// Respiratory.
pub(super) const SALBUTAMOL: Drug = Drug {
    snomed: "39113611000001102", // checked
    name: "Salbutamol 100micrograms/dose inhaler CFC free",
    dosage: "Inhale two doses when required for breathlessness or wheeze",
    quantity: "1 x 200 dose",
    days: 60,
    requestable: true,
};
pub(super) const BECLOMETASONE_100: Drug = Drug {
    snomed: "39112911000001104",
    name: "Beclometasone 100micrograms/dose inhaler CFC free",
    dosage: "Inhale two doses twice a day. Rinse mouth after use",
    quantity: "1 x 200 dose",
    days: 50,
    requestable: true,
};
pub(super) const TIOTROPIUM: Drug = Drug {
    snomed: "407989008",
    name: "Tiotropium bromide 18microgram inhalation powder capsules with device",
    dosage: "Inhale the contents of one capsule once a day",
    quantity: "30 capsule",
    days: 30,
    requestable: true,
};
pub(super) const CETIRIZINE_10: Drug = drug(
    "324995001",
    "Cetirizine 10mg tablets",
    "Take one tablet once a day when required",
    "30 tablet",
    30,
);
pub(super) const BECLOMETASONE_NASAL: Drug = Drug {
    snomed: "330144002",
    name: "Beclometasone 50micrograms/dose nasal spray",
    dosage: "Two sprays into each nostril twice a day",
    quantity: "1 x 200 dose",
    days: 50,
    requestable: true,
};

// Mental health and neurology.
pub(super) const SERTRALINE_50: Drug = drug(
    "321949006",
    "Sertraline 50mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const CITALOPRAM_20: Drug = drug(
    "321988005",
    "Citalopram 20mg tablets",
    "Take one tablet once a day",
    "28 tablet",
    28,
);
pub(super) const FLUOXETINE_20: Drug = drug(
    "321946004",
    "Fluoxetine 20mg capsules",
    "Take one capsule once a day",
    "30 capsule",
    30,
);
pub(super) const MIRTAZAPINE_15: Drug = drug(
    "324279005",
    "Mirtazapine 15mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);
pub(super) const PROPRANOLOL_10: Drug = drug(
    "318353009",
    "Propranolol 10mg tablets",
    "Take one tablet up to three times a day when required for anxiety",
    "84 tablet",
    28,
);
pub(super) const SUMATRIPTAN_50: Drug = drug(
    "321983009",
    "Sumatriptan 50mg tablets",
    "Take one tablet at the onset of migraine; may repeat after 2 hours. Maximum 2 in 24 hours",
    "6 tablet",
    30,
);
pub(super) const AMITRIPTYLINE_10: Drug = drug(
    "321739005",
    "Amitriptyline 10mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);
pub(super) const DONEPEZIL_10: Drug = drug(
    "322898006",
    "Donepezil 10mg tablets",
    "Take one tablet at night",
    "28 tablet",
    28,
);

// Endocrine, gastro-intestinal, musculoskeletal, urology.
pub(super) const LEVOTHYROXINE_50: Drug = drug(
    "315419004",
    "Levothyroxine sodium 50microgram tablets",
    "Take one tablet each morning before breakfast",
    "28 tablet",
    28,
);
pub(super) const LEVOTHYROXINE_100: Drug = drug(
    "315418007",
    "Levothyroxine sodium 100microgram tablets",
    "Take one tablet each morning before breakfast",
    "28 tablet",
    28,
);
pub(super) const OMEPRAZOLE_20: Drug = drug(
    "317335005",
    "Omeprazole 20mg gastro-resistant capsules",
    "Take one capsule once a day before breakfast",
    "28 capsule",
    28,
);
pub(super) const LANSOPRAZOLE_30: Drug = drug(
    "317336006",
    "Lansoprazole 30mg gastro-resistant capsules",
    "Take one capsule once a day before breakfast",
    "28 capsule",
    28,
);
pub(super) const PARACETAMOL_500: Drug = drug(
    "322236009", // checked
    "Paracetamol 500mg tablets",
    "Take two tablets up to four times a day when required. Maximum 8 in 24 hours",
    "100 tablet",
    25,
);
pub(super) const NAPROXEN_500: Drug = drug(
    "329652003",
    "Naproxen 500mg tablets",
    "Take one tablet twice a day with food when required",
    "56 tablet",
    28,
);
pub(super) const CO_CODAMOL_30: Drug = Drug {
    snomed: "322280009",
    name: "Co-codamol 30mg/500mg tablets",
    dosage: "Take one or two tablets up to four times a day when required",
    quantity: "100 tablet",
    days: 25,
    // Opioid: issued only after a clinician has reviewed it.
    requestable: false,
};
pub(super) const ALENDRONIC_ACID_70: Drug = drug(
    "330960006",
    "Alendronic acid 70mg tablets",
    "Take one tablet once a week on an empty stomach with a full glass of water",
    "4 tablet",
    28,
);
pub(super) const CALCIUM_VITAMIN_D: Drug = drug(
    "375381000000102",
    "Calcium carbonate 1.25g / Colecalciferol 10micrograms chewable tablets",
    "Chew one tablet twice a day",
    "56 tablet",
    28,
);
pub(super) const TAMSULOSIN_400: Drug = drug(
    "317999001",
    "Tamsulosin 400microgram modified-release capsules",
    "Take one capsule once a day after breakfast",
    "30 capsule",
    30,
);

// Skin.
pub(super) const EMOLLIENT: Drug = Drug {
    snomed: "3454811000001101",
    name: "Zerobase 11% cream",
    dosage: "Apply to dry skin as often as required and use as a soap substitute",
    quantity: "500 gram",
    days: 30,
    requestable: true,
};
pub(super) const HYDROCORTISONE_1: Drug = Drug {
    snomed: "331646005",
    name: "Hydrocortisone 1% cream",
    dosage: "Apply thinly once or twice a day to affected areas during flares",
    quantity: "30 gram",
    days: 30,
    requestable: true,
};
pub(super) const CALCIPOTRIOL_BETAMETHASONE: Drug = Drug {
    snomed: "9195711000001104",
    name: "Calcipotriol 50micrograms/g / Betamethasone dipropionate 0.5mg/g gel",
    dosage: "Apply once a day to affected areas for up to 4 weeks",
    quantity: "60 gram",
    days: 30,
    requestable: true,
};
pub(super) const DESOGESTREL_75: Drug = drug(
    "326292009",
    "Desogestrel 75microgram tablets",
    "Take one tablet daily at the same time each day without a break",
    "84 tablet",
    84,
);

// Acute (one-off) courses.
pub(super) const AMOXICILLIN_500: Drug = drug(
    "323509004", // checked
    "Amoxicillin 500mg capsules",
    "Take one capsule three times a day for 5 days",
    "15 capsule",
    5,
);
pub(super) const PHENOXYMETHYLPENICILLIN_250: Drug = drug(
    "323462003",
    "Phenoxymethylpenicillin 250mg tablets",
    "Take two tablets four times a day for 5 days",
    "40 tablet",
    5,
);
pub(super) const NITROFURANTOIN_100: Drug = drug(
    "324304007",
    "Nitrofurantoin 100mg modified-release capsules",
    "Take one capsule twice a day for 3 days",
    "6 capsule",
    3,
);
pub(super) const DOXYCYCLINE_100: Drug = drug(
    "324155004",
    "Doxycycline 100mg capsules",
    "Take two capsules on the first day then one capsule daily for 4 days",
    "6 capsule",
    5,
);
pub(super) const FLUCLOXACILLIN_500: Drug = drug(
    "323608005",
    "Flucloxacillin 500mg capsules",
    "Take one capsule four times a day for 7 days, on an empty stomach",
    "28 capsule",
    7,
);
pub(super) const IBUPROFEN_400: Drug = drug(
    "329653008",
    "Ibuprofen 400mg tablets",
    "Take one tablet three times a day with food when required",
    "24 tablet",
    8,
);
pub(super) const AMOXICILLIN_SUSPENSION: Drug = drug(
    "323523007",
    "Amoxicillin 250mg/5ml oral suspension",
    "5ml three times a day for 5 days",
    "100 ml",
    5,
);

/// A pathology panel requested together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Panel {
    /// Full blood count.
    Fbc,
    /// Urea and electrolytes with eGFR.
    Renal,
    /// Lipid profile.
    Lipids,
    /// HbA1c.
    HbA1c,
    /// Thyroid function.
    Thyroid,
    /// Liver function (ALT).
    Liver,
    /// Urine albumin:creatinine ratio.
    Acr,
    /// Blood pressure reading.
    BloodPressure,
}

/// Which physiological baseline a test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Analyte {
    Haemoglobin,
    WhiteCells,
    Platelets,
    Sodium,
    Potassium,
    Creatinine,
    Egfr,
    Cholesterol,
    Hdl,
    Ldl,
    Triglycerides,
    HbA1c,
    Tsh,
    FreeT4,
    Alt,
    Acr,
}

/// A numeric pathology test with its UK reference range.
#[derive(Debug, Clone, Copy)]
pub(super) struct TestDef {
    pub analyte: Analyte,
    /// SNOMED CT observable (test code).
    pub code: &'static str,
    pub name: &'static str,
    pub unit: &'static str,
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub decimals: usize,
    /// Population mean and spread of a healthy adult's baseline.
    pub mean: f64,
    pub sd: f64,
    /// Smallest plausible value.
    pub min: f64,
}

const fn test(
    analyte: Analyte,
    code: &'static str,
    name: &'static str,
    unit: &'static str,
    range: (Option<f64>, Option<f64>),
    decimals: usize,
    baseline: (f64, f64, f64),
) -> TestDef {
    TestDef {
        analyte,
        code,
        name,
        unit,
        low: range.0,
        high: range.1,
        decimals,
        mean: baseline.0,
        sd: baseline.1,
        min: baseline.2,
    }
}

pub(super) const HB_MALE: TestDef = test(
    Analyte::Haemoglobin,
    "1022431000000105",
    "Haemoglobin estimation",
    "g/L",
    (Some(130.0), Some(180.0)),
    0,
    (148.0, 9.0, 70.0),
);
pub(super) const HB_FEMALE: TestDef = test(
    Analyte::Haemoglobin,
    "1022431000000105",
    "Haemoglobin estimation",
    "g/L",
    (Some(115.0), Some(165.0)),
    0,
    (134.0, 9.0, 70.0),
);
pub(super) const WHITE_CELLS: TestDef = test(
    Analyte::WhiteCells,
    "1022541000000102",
    "Total white cell count",
    "10*9/L",
    (Some(4.0), Some(11.0)),
    1,
    (6.8, 1.4, 2.0),
);
pub(super) const PLATELETS: TestDef = test(
    Analyte::Platelets,
    "1022651000000100",
    "Platelet count",
    "10*9/L",
    (Some(150.0), Some(400.0)),
    0,
    (265.0, 50.0, 60.0),
);
pub(super) const SODIUM: TestDef = test(
    Analyte::Sodium,
    "1000661000000107",
    "Serum sodium level",
    "mmol/L",
    (Some(133.0), Some(146.0)),
    0,
    (139.5, 2.0, 120.0),
);
pub(super) const POTASSIUM: TestDef = test(
    Analyte::Potassium,
    "1000651000000109",
    "Serum potassium level",
    "mmol/L",
    (Some(3.5), Some(5.3)),
    1,
    (4.4, 0.3, 2.8),
);
pub(super) const CREATININE_MALE: TestDef = test(
    Analyte::Creatinine,
    "1000731000000107",
    "Serum creatinine level",
    "umol/L",
    (Some(59.0), Some(104.0)),
    0,
    (82.0, 11.0, 35.0),
);
pub(super) const CREATININE_FEMALE: TestDef = test(
    Analyte::Creatinine,
    "1000731000000107",
    "Serum creatinine level",
    "umol/L",
    (Some(45.0), Some(84.0)),
    0,
    (66.0, 9.0, 30.0),
);
pub(super) const EGFR: TestDef = test(
    Analyte::Egfr,
    "1011481000000105",
    "eGFR using creatinine (CKD-EPI) per 1.73 square metres",
    "mL/min/1.73m2",
    (Some(60.0), None),
    0,
    (88.0, 10.0, 8.0),
);
pub(super) const CHOLESTEROL: TestDef = test(
    Analyte::Cholesterol,
    "1005671000000105",
    "Serum cholesterol level",
    "mmol/L",
    (None, Some(5.0)),
    1,
    (5.1, 0.8, 2.5),
);
pub(super) const HDL: TestDef = test(
    Analyte::Hdl,
    "1005681000000107",
    "Serum HDL cholesterol level",
    "mmol/L",
    (Some(1.0), None),
    1,
    (1.4, 0.3, 0.6),
);
pub(super) const LDL: TestDef = test(
    Analyte::Ldl,
    "1022191000000100",
    "Serum LDL cholesterol level",
    "mmol/L",
    (None, Some(3.0)),
    1,
    (3.0, 0.7, 0.8),
);
pub(super) const TRIGLYCERIDES: TestDef = test(
    Analyte::Triglycerides,
    "1005691000000109",
    "Serum triglycerides level",
    "mmol/L",
    (None, Some(1.7)),
    1,
    (1.4, 0.5, 0.4),
);
pub(super) const HBA1C: TestDef = test(
    Analyte::HbA1c,
    "1019431000000105",
    "Haemoglobin A1c level - IFCC standardised",
    "mmol/mol",
    (Some(20.0), Some(41.0)),
    0,
    (36.0, 3.0, 25.0),
);
pub(super) const TSH: TestDef = test(
    Analyte::Tsh,
    "1022791000000101",
    "Serum TSH level",
    "mU/L",
    (Some(0.27), Some(4.2)),
    2,
    (1.8, 0.7, 0.02),
);
pub(super) const FREE_T4: TestDef = test(
    Analyte::FreeT4,
    "1016971000000106",
    "Serum free T4 level",
    "pmol/L",
    (Some(12.0), Some(22.0)),
    1,
    (16.0, 1.8, 6.0),
);
pub(super) const ALT: TestDef = test(
    Analyte::Alt,
    "1018251000000107",
    "Serum alanine aminotransferase level",
    "U/L",
    (None, Some(40.0)),
    0,
    (22.0, 7.0, 6.0),
);
pub(super) const ACR: TestDef = test(
    Analyte::Acr,
    "1023491000000104",
    "Urine albumin:creatinine ratio",
    "mg/mmol",
    (None, Some(3.0)),
    1,
    (1.0, 0.6, 0.1),
);

/// The blood pressure observation reported with results.
pub(super) const BLOOD_PRESSURE: (&str, &str) = ("75367002", "Blood pressure");

/// The tests of a panel for a patient of `sex`.
pub(super) fn panel_tests(panel: Panel, sex: Sex) -> &'static [TestDef] {
    let female = sex == Sex::Female;
    match panel {
        Panel::Fbc if female => &[HB_FEMALE, WHITE_CELLS, PLATELETS],
        Panel::Fbc => &[HB_MALE, WHITE_CELLS, PLATELETS],
        Panel::Renal if female => &[SODIUM, POTASSIUM, CREATININE_FEMALE, EGFR],
        Panel::Renal => &[SODIUM, POTASSIUM, CREATININE_MALE, EGFR],
        Panel::Lipids => &[CHOLESTEROL, HDL, LDL, TRIGLYCERIDES],
        Panel::HbA1c => &[HBA1C],
        Panel::Thyroid => &[TSH, FREE_T4],
        Panel::Liver => &[ALT],
        Panel::Acr => &[ACR],
        Panel::BloodPressure => &[],
    }
}

/// A long-term condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Cond {
    Hypertension,
    Diabetes,
    Asthma,
    Depression,
    Anxiety,
    Copd,
    AtrialFibrillation,
    Osteoarthritis,
    Hypothyroidism,
    Hyperlipidaemia,
    IschaemicHeartDisease,
    Ckd3,
    Gord,
    Migraine,
    Eczema,
    Psoriasis,
    Osteoporosis,
    Dementia,
    Stroke,
    HeartFailure,
    Bph,
    AllergicRhinitis,
}

/// A long-term condition: its code, how common it is, how it is treated and monitored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Condition {
    pub cond: Cond,
    pub snomed: &'static str,
    pub term: &'static str,
    /// Chance of having it by age band: 0–15, 16–39, 40–64, 65–79, 80+.
    pub prevalence: [f64; 5],
    /// Multipliers of the chance for women and for men.
    pub female: f64,
    pub male: f64,
    /// Youngest age at diagnosis.
    pub min_onset_age: u32,
    /// Treatment: one drug of the first group always, one of each later group sometimes.
    pub drugs: &'static [&'static [Drug]],
    /// Monitoring bloods.
    pub panels: &'static [Panel],
    /// Note of a review consultation.
    pub review: &'static str,
}

/// Every long-term condition the demo knows.
pub(super) const CONDITIONS: &[Condition] = &[
    Condition {
        cond: Cond::Hypertension,
        snomed: "38341003",
        term: "Hypertensive disorder",
        prevalence: [0.0, 0.03, 0.18, 0.45, 0.55],
        female: 1.0,
        male: 1.1,
        min_onset_age: 25,
        drugs: &[
            &[AMLODIPINE_5, RAMIPRIL_5, LOSARTAN_50],
            &[INDAPAMIDE_2_5, RAMIPRIL_2_5],
        ],
        panels: &[Panel::BloodPressure, Panel::Renal, Panel::Lipids],
        review: "Hypertension annual review. Home BP readings brought in, average {bp}. \
                 No headaches, chest pain or visual symptoms. Taking medication regularly, no \
                 side effects. Lifestyle advice reinforced (salt, alcohol, exercise). U&E and \
                 lipids requested. Continue current treatment; review in 12 months.",
    },
    Condition {
        cond: Cond::Diabetes,
        snomed: "44054006",
        term: "Type 2 diabetes mellitus",
        prevalence: [0.0, 0.01, 0.08, 0.16, 0.17],
        female: 0.9,
        male: 1.2,
        min_onset_age: 30,
        drugs: &[&[METFORMIN_500], &[ATORVASTATIN_20], &[GLICLAZIDE_80]],
        panels: &[
            Panel::HbA1c,
            Panel::Renal,
            Panel::Lipids,
            Panel::Acr,
            Panel::Fbc,
            Panel::BloodPressure,
        ],
        review: "Diabetes annual review. Feet checked: pulses palpable, sensation intact to \
                 monofilament, low risk. Retinal screening up to date. Weight stable. Discussed \
                 diet and activity; structured education offered. Bloods and urine ACR \
                 requested. Continue metformin.",
    },
    Condition {
        cond: Cond::Asthma,
        snomed: "195967001",
        term: "Asthma",
        prevalence: [0.08, 0.10, 0.08, 0.08, 0.06],
        female: 1.1,
        male: 0.9,
        min_onset_age: 3,
        drugs: &[&[SALBUTAMOL], &[BECLOMETASONE_100]],
        panels: &[],
        review: "Asthma annual review. Asthma Control Test score 22. Peak flow 92% of best. \
                 Inhaler technique checked and good. Using reliever less than twice a week. \
                 Personalised asthma action plan updated. No change to treatment.",
    },
    Condition {
        cond: Cond::Depression,
        snomed: "35489007",
        term: "Depressive disorder",
        prevalence: [0.005, 0.12, 0.11, 0.07, 0.07],
        female: 1.3,
        male: 0.7,
        min_onset_age: 14,
        drugs: &[&[SERTRALINE_50, CITALOPRAM_20, FLUOXETINE_20, MIRTAZAPINE_15]],
        panels: &[],
        review: "Mood review. PHQ-9 score 8, improved from 16. Sleeping better, back at work. \
                 No thoughts of self-harm. Tolerating antidepressant. Plan to continue for at \
                 least 6 months after feeling well. Talking therapies information given.",
    },
    Condition {
        cond: Cond::Anxiety,
        snomed: "197480006",
        term: "Anxiety disorder",
        prevalence: [0.01, 0.10, 0.08, 0.05, 0.03],
        female: 1.3,
        male: 0.7,
        min_onset_age: 12,
        drugs: &[&[SERTRALINE_50, PROPRANOLOL_10]],
        panels: &[],
        review: "Anxiety review. GAD-7 score 9. Using breathing techniques learned in \
                 NHS Talking Therapies. Fewer panic episodes. Continue treatment; \
                 review in 3 months or sooner if needed.",
    },
    Condition {
        cond: Cond::Copd,
        snomed: "13645005",
        term: "Chronic obstructive lung disease",
        prevalence: [0.0, 0.0, 0.03, 0.08, 0.10],
        female: 0.9,
        male: 1.1,
        min_onset_age: 40,
        drugs: &[&[SALBUTAMOL], &[TIOTROPIUM]],
        panels: &[Panel::Fbc],
        review: "COPD annual review. MRC dyspnoea scale 2. Two exacerbations in the last year, \
                 neither needing admission. Inhaler technique good. Smoking status discussed. \
                 Pulmonary rehabilitation offered. Flu and pneumococcal vaccines up to date.",
    },
    Condition {
        cond: Cond::AtrialFibrillation,
        snomed: "49436004",
        term: "Atrial fibrillation",
        prevalence: [0.0, 0.0, 0.01, 0.07, 0.15],
        female: 0.8,
        male: 1.2,
        min_onset_age: 45,
        drugs: &[&[APIXABAN_5, EDOXABAN_60], &[BISOPROLOL_2_5]],
        panels: &[Panel::Fbc, Panel::Renal, Panel::BloodPressure],
        review: "AF review. Pulse irregular, rate 72. No palpitations or breathlessness. \
                 CHA2DS2-VASc 3, ORBIT bleeding risk low. Anticoagulation continued; dose \
                 checked against weight and creatinine clearance. Bloods requested.",
    },
    Condition {
        cond: Cond::Osteoarthritis,
        snomed: "396275006",
        term: "Osteoarthritis",
        prevalence: [0.0, 0.01, 0.10, 0.30, 0.40],
        female: 1.2,
        male: 0.8,
        min_onset_age: 40,
        drugs: &[&[PARACETAMOL_500], &[NAPROXEN_500, CO_CODAMOL_30]],
        panels: &[],
        review: "Knee pain review. Pain worse on stairs, morning stiffness under 30 minutes. \
                 Crepitus, no effusion. Weight loss and strengthening exercises discussed; \
                 self-referral to physiotherapy. Analgesia reviewed.",
    },
    Condition {
        cond: Cond::Hypothyroidism,
        snomed: "40930008",
        term: "Hypothyroidism",
        prevalence: [0.0, 0.01, 0.04, 0.07, 0.08],
        female: 1.8,
        male: 0.3,
        min_onset_age: 20,
        drugs: &[&[LEVOTHYROXINE_50, LEVOTHYROXINE_100]],
        panels: &[Panel::Thyroid],
        review: "Thyroid review. Feels well, energy good, weight stable. TFTs requested. \
                 Reminded to take levothyroxine on an empty stomach, separate from calcium \
                 and iron.",
    },
    Condition {
        cond: Cond::Hyperlipidaemia,
        snomed: "55822004",
        term: "Hyperlipidaemia",
        prevalence: [0.0, 0.01, 0.10, 0.14, 0.10],
        female: 0.9,
        male: 1.1,
        min_onset_age: 30,
        drugs: &[&[ATORVASTATIN_20, SIMVASTATIN_40]],
        panels: &[Panel::Lipids, Panel::Liver],
        review: "Cholesterol review. QRISK3 recalculated. Tolerating statin without muscle \
                 aches. Lipids and ALT requested. Diet and exercise advice given.",
    },
    Condition {
        cond: Cond::IschaemicHeartDisease,
        snomed: "414545008",
        term: "Ischaemic heart disease",
        prevalence: [0.0, 0.0, 0.03, 0.10, 0.15],
        female: 0.6,
        male: 1.4,
        min_onset_age: 40,
        drugs: &[
            &[ASPIRIN_75, CLOPIDOGREL_75],
            &[ATORVASTATIN_80],
            &[BISOPROLOL_2_5],
            &[GTN_SPRAY],
        ],
        panels: &[Panel::Lipids, Panel::Renal, Panel::BloodPressure],
        review: "Coronary heart disease review. No angina on exertion; GTN spray not used. \
                 BP and pulse satisfactory. Secondary prevention medicines continued. Cardiac \
                 rehabilitation completed previously.",
    },
    Condition {
        cond: Cond::Ckd3,
        snomed: "433144002",
        term: "Chronic kidney disease stage 3",
        prevalence: [0.0, 0.0, 0.02, 0.10, 0.25],
        female: 1.1,
        male: 0.9,
        min_onset_age: 50,
        drugs: &[],
        panels: &[Panel::Renal, Panel::Acr, Panel::BloodPressure],
        review: "CKD review. eGFR stable over 12 months. BP on target. Avoiding NSAIDs \
                 discussed. Renal function and urine ACR requested; sick day rules explained.",
    },
    Condition {
        cond: Cond::Gord,
        snomed: "235595009",
        term: "Gastro-oesophageal reflux disease",
        prevalence: [0.0, 0.04, 0.08, 0.10, 0.10],
        female: 1.0,
        male: 1.0,
        min_onset_age: 18,
        drugs: &[&[OMEPRAZOLE_20, LANSOPRAZOLE_30]],
        panels: &[],
        review: "Reflux review. Symptoms controlled. No dysphagia, weight loss or vomiting. \
                 Advised to try stepping down to the lowest effective dose.",
    },
    Condition {
        cond: Cond::Migraine,
        snomed: "37796009",
        term: "Migraine",
        prevalence: [0.01, 0.08, 0.06, 0.02, 0.01],
        female: 1.6,
        male: 0.5,
        min_onset_age: 10,
        drugs: &[&[SUMATRIPTAN_50], &[AMITRIPTYLINE_10]],
        panels: &[],
        review: "Migraine review. Headache diary: four migraines a month, typical aura. \
                 Triptan effective. Medication-overuse headache explained. Prophylaxis \
                 discussed.",
    },
    Condition {
        cond: Cond::Eczema,
        snomed: "43116000",
        term: "Eczema",
        prevalence: [0.12, 0.04, 0.03, 0.02, 0.02],
        female: 1.0,
        male: 1.0,
        min_onset_age: 0,
        drugs: &[&[EMOLLIENT], &[HYDROCORTISONE_1]],
        panels: &[],
        review: "Eczema review. Flexural eczema, mild flare. Using emollient regularly. \
                 Steroid cream for flares explained (fingertip units). No signs of infection.",
    },
    Condition {
        cond: Cond::Psoriasis,
        snomed: "9014002",
        term: "Psoriasis",
        prevalence: [0.005, 0.02, 0.03, 0.03, 0.02],
        female: 1.0,
        male: 1.0,
        min_onset_age: 12,
        drugs: &[&[CALCIPOTRIOL_BETAMETHASONE], &[EMOLLIENT]],
        panels: &[],
        review: "Psoriasis review. Plaques on elbows and scalp, less than 10% body surface \
                 area. No joint symptoms. Topical treatment continued.",
    },
    Condition {
        cond: Cond::Osteoporosis,
        snomed: "64859006",
        term: "Osteoporosis",
        prevalence: [0.0, 0.0, 0.02, 0.08, 0.15],
        female: 2.0,
        male: 0.3,
        min_onset_age: 50,
        drugs: &[&[ALENDRONIC_ACID_70], &[CALCIUM_VITAMIN_D]],
        panels: &[Panel::Renal],
        review: "Osteoporosis review. Taking alendronic acid correctly. No new fractures. \
                 Falls risk assessed. Dental check advised. Plan treatment review at 5 years.",
    },
    Condition {
        cond: Cond::Dementia,
        snomed: "52448006",
        term: "Dementia",
        prevalence: [0.0, 0.0, 0.002, 0.03, 0.15],
        female: 1.2,
        male: 0.8,
        min_onset_age: 60,
        drugs: &[&[DONEPEZIL_10]],
        panels: &[],
        review: "Dementia care plan review with family present. Memory gradually worse; \
                 managing at home with support. Carer's needs discussed and carer's assessment \
                 offered. Advance care planning started.",
    },
    Condition {
        cond: Cond::Stroke,
        snomed: "230690007",
        term: "Cerebrovascular accident",
        prevalence: [0.0, 0.0, 0.01, 0.04, 0.08],
        female: 0.9,
        male: 1.1,
        min_onset_age: 45,
        drugs: &[&[CLOPIDOGREL_75], &[ATORVASTATIN_80]],
        panels: &[Panel::Lipids, Panel::BloodPressure],
        review: "Stroke review. Residual mild left hand weakness, independent with daily \
                 living. Secondary prevention continued. BP on target.",
    },
    Condition {
        cond: Cond::HeartFailure,
        snomed: "84114007",
        term: "Heart failure",
        prevalence: [0.0, 0.0, 0.005, 0.03, 0.08],
        female: 0.9,
        male: 1.1,
        min_onset_age: 50,
        drugs: &[&[FUROSEMIDE_40], &[BISOPROLOL_2_5], &[RAMIPRIL_2_5]],
        panels: &[Panel::Renal, Panel::Fbc, Panel::BloodPressure],
        review: "Heart failure review. NYHA class II. Mild ankle oedema, weight stable. Daily \
                 weights advised; call if gaining more than 2kg in 3 days. Renal function \
                 requested.",
    },
    Condition {
        cond: Cond::Bph,
        snomed: "266569009",
        term: "Benign prostatic hyperplasia",
        prevalence: [0.0, 0.0, 0.08, 0.25, 0.35],
        female: 0.0,
        male: 1.0,
        min_onset_age: 45,
        drugs: &[&[TAMSULOSIN_400]],
        panels: &[Panel::Renal],
        review: "Lower urinary tract symptoms review. IPSS 9. Nocturia once. Tamsulosin \
                 helping. No haematuria. Continue.",
    },
    Condition {
        cond: Cond::AllergicRhinitis,
        snomed: "61582004",
        term: "Allergic rhinitis",
        prevalence: [0.06, 0.12, 0.08, 0.04, 0.02],
        female: 1.0,
        male: 1.0,
        min_onset_age: 4,
        drugs: &[&[CETIRIZINE_10], &[BECLOMETASONE_NASAL]],
        panels: &[],
        review: "Hay fever review before the pollen season. Symptoms controlled with \
                 antihistamine and nasal spray; technique checked.",
    },
];

/// The condition record of `cond`.
pub(super) fn condition(cond: Cond) -> Option<&'static Condition> {
    CONDITIONS.iter().find(|c| c.cond == cond)
}

/// A coded concept.
#[derive(Debug, Clone, Copy)]
pub(super) struct Coded {
    pub snomed: &'static str,
    pub term: &'static str,
}

const fn coded(snomed: &'static str, term: &'static str) -> Coded {
    Coded { snomed, term }
}

/// An allergy with how common it is (adults, children) and the typical reaction.
pub(super) struct Allergy {
    pub code: Coded,
    pub adult: f64,
    pub child: f64,
    pub reaction: &'static str,
}

/// Allergies and intolerances.
pub(super) const ALLERGIES: &[Allergy] = &[
    Allergy {
        code: coded("91936005", "Allergy to penicillin"),
        adult: 0.10,
        child: 0.02,
        reaction: "Reaction: widespread urticarial rash. Avoid all penicillins.",
    },
    Allergy {
        code: coded("300916003", "Latex allergy"),
        adult: 0.015,
        child: 0.0,
        reaction: "Reaction: contact dermatitis and itching with latex gloves.",
    },
    Allergy {
        code: coded("91935009", "Allergy to peanuts"),
        adult: 0.015,
        child: 0.03,
        reaction: "Reaction: lip swelling and wheeze. Carries adrenaline auto-injectors.",
    },
    Allergy {
        code: coded("91930004", "Allergy to eggs"),
        adult: 0.003,
        child: 0.03,
        reaction: "Reaction: hives and vomiting after eating egg.",
    },
    Allergy {
        code: coded("300913006", "Shellfish allergy"),
        adult: 0.01,
        child: 0.0,
        reaction: "Reaction: facial swelling after prawns.",
    },
    Allergy {
        code: coded("418689008", "Allergy to grass pollen"),
        adult: 0.03,
        child: 0.02,
        reaction: "Seasonal rhinitis and itchy eyes in early summer.",
    },
    Allergy {
        code: coded("232350006", "House dust mite allergy"),
        adult: 0.02,
        child: 0.02,
        reaction: "Perennial rhinitis; worse at night.",
    },
];

/// Recorded when a patient has no known allergies.
pub(super) const NO_KNOWN_ALLERGY: Coded = coded("716186003", "No known allergy");

/// Immunisations.
pub(super) const FLU_VACCINE: Coded = coded("822851000000102", "Seasonal influenza vaccination");
pub(super) const COVID_VACCINE: Coded = coded(
    "840534001",
    "Severe acute respiratory syndrome coronavirus 2 vaccination",
);
pub(super) const PNEUMOCOCCAL_VACCINE: Coded = coded("12866006", "Pneumococcal vaccination");
pub(super) const MMR_VACCINE: Coded = coded("38598009", "Measles, mumps and rubella vaccination");
pub(super) const MMR_SECOND_VACCINE: Coded = coded(
    "170433008",
    "Administration of second dose of measles, mumps and rubella vaccine",
);
pub(super) const SIX_IN_ONE_VACCINE: Coded = coded(
    "871895005",
    "Diphtheria, tetanus, pertussis, polio, Hib and hepatitis B vaccine",
);
pub(super) const MENB_VACCINE: Coded = coded("720537002", "Meningitis B vaccination");
pub(super) const ROTAVIRUS_VACCINE: Coded = coded("415354003", "Rotavirus vaccination");
pub(super) const HIB_MENC_VACCINE: Coded = coded(
    "428975001",
    "Haemophilus influenzae type b and meningitis C vaccination",
);
pub(super) const HPV_VACCINE: Coded = coded(
    "761841000",
    "Administration of vaccine product containing only Human papillomavirus antigen",
);
pub(super) const TD_IPV_VACCINE: Coded =
    coded("866186002", "Tetanus, diphtheria and polio vaccination");
pub(super) const MENACWY_VACCINE: Coded = coded("871874000", "Meningitis ACWY vaccination");

/// A reason people consult, with notes a GP would write and an optional acute treatment.
pub(super) struct Complaint {
    pub code: Coded,
    /// Youngest and oldest age it is typical for.
    pub ages: (u32, u32),
    /// Relative frequency.
    pub weight: u32,
    /// Consultation notes (one is picked).
    pub notes: &'static [&'static str],
    /// An acute prescription sometimes issued.
    pub treatment: Option<Drug>,
    /// Whether the entry is sensitive (sometimes hidden from proxies).
    pub sensitive: bool,
}

/// Acute presentations in general practice.
pub(super) const COMPLAINTS: &[Complaint] = &[
    Complaint {
        code: coded("49727002", "Cough"),
        ages: (0, 100),
        weight: 10,
        notes: &[
            "10 days of productive cough after a cold. No breathlessness, no chest pain, \
             no haemoptysis. Chest clear, sats 97%, afebrile. Viral bronchitis likely. \
             Self-care advice; return if worse or not settling in 3 weeks.",
            "Cough for 2 weeks with green sputum and fever. Coarse crackles right base, \
             sats 95%. Treated as lower respiratory tract infection. Safety-netting advice \
             given; review if not improving in 48 hours.",
        ],
        treatment: Some(AMOXICILLIN_500),
        sensitive: false,
    },
    Complaint {
        code: coded("162397003", "Pain in throat"),
        ages: (3, 70),
        weight: 7,
        notes: &[
            "Sore throat for 3 days. FeverPAIN score 1. Tonsils mildly inflamed, no exudate. \
             Viral. Paracetamol and fluids; no antibiotics needed.",
            "Sore throat for 4 days with fever and tender glands. FeverPAIN score 4. \
             Exudative tonsillitis. Antibiotics given; advised to complete the course.",
        ],
        treatment: Some(PHENOXYMETHYLPENICILLIN_250),
        sensitive: false,
    },
    Complaint {
        code: coded("279039007", "Low back pain"),
        ages: (18, 90),
        weight: 8,
        notes: &[
            "Low back pain for 2 weeks after lifting at work. No red flags: no saddle \
             anaesthesia, bladder and bowel normal, no weight loss. Straight leg raise \
             negative. Advised to keep active; NSAID for 1 week; physiotherapy self-referral.",
            "Recurrent mechanical back pain. Neurology normal. STarT Back score low risk. \
             Exercise programme leaflet given. Fit note for 1 week.",
        ],
        treatment: Some(IBUPROFEN_400),
        sensitive: false,
    },
    Complaint {
        code: coded("25064002", "Headache"),
        ages: (8, 90),
        weight: 5,
        notes: &[
            "Headaches for 3 weeks, worse at the end of the working day, band-like. No \
             visual disturbance or morning vomiting. Neurological examination normal, BP \
             normal. Tension-type headache. Advised screen breaks, fluids and reducing \
             caffeine.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("21522001", "Abdominal pain"),
        ages: (5, 90),
        weight: 5,
        notes: &[
            "Intermittent central abdominal pain and bloating for 6 weeks, relieved by \
             opening bowels. No weight loss, no rectal bleeding. Abdomen soft, non-tender. \
             Likely irritable bowel syndrome. Coeliac screen and FBC requested. Dietary \
             advice given.",
            "Epigastric pain after meals for a month. No alarm features. H. pylori stool \
             test requested. Trial of PPI for 4 weeks.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("49650001", "Dysuria"),
        ages: (16, 95),
        weight: 6,
        notes: &[
            "Dysuria and frequency for 2 days. No fever or loin pain. Urine dip positive \
             for nitrites and leucocytes. Uncomplicated lower UTI. Antibiotic for 3 days; \
             return if not settling.",
        ],
        treatment: Some(NITROFURANTOIN_100),
        sensitive: false,
    },
    Complaint {
        code: coded("84229001", "Fatigue"),
        ages: (16, 90),
        weight: 5,
        notes: &[
            "Tired all the time for 3 months. Sleeping 7 hours. Mood reasonable. No weight \
             loss, no night sweats. Examination unremarkable. Bloods requested: FBC, U&E, \
             LFT, TFT, HbA1c, ferritin. Review with results.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("271807003", "Eruption of skin"),
        ages: (0, 95),
        weight: 5,
        notes: &[
            "Itchy red rash on forearms for a week after gardening. No systemic symptoms. \
             Likely contact dermatitis. Emollient and mild topical steroid for 1 week.",
            "Spreading redness and warmth of the left shin for 2 days. Afebrile. Cellulitis. \
             Outline marked. Oral antibiotics; seek help urgently if spreading or unwell.",
        ],
        treatment: Some(FLUCLOXACILLIN_500),
        sensitive: false,
    },
    Complaint {
        code: coded("57676002", "Joint pain"),
        ages: (16, 95),
        weight: 5,
        notes: &[
            "Right knee pain for 2 months, worse on stairs. No swelling or locking. Full \
             range of movement. Likely early osteoarthritis. Exercises, weight management, \
             paracetamol. Physiotherapy if not improving.",
            "Painful left shoulder for 6 weeks, worse at night. Painful arc 70–120 degrees. \
             Rotator cuff tendinopathy. Exercises given; consider steroid injection if no \
             better in 6 weeks.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("29857009", "Chest pain"),
        ages: (25, 95),
        weight: 3,
        notes: &[
            "Left-sided chest pain for 3 days, sharp, worse on twisting and pressing. Not \
             exertional. Reproducible chest wall tenderness. ECG normal sinus rhythm. \
             Musculoskeletal. Advised to call 999 if pain changes or becomes crushing.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("404640003", "Dizziness"),
        ages: (30, 95),
        weight: 3,
        notes: &[
            "Brief spinning episodes on turning over in bed for a week. Dix-Hallpike \
             positive on the right. Benign paroxysmal positional vertigo. Epley manoeuvre \
             performed and home exercises given.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("193462001", "Insomnia"),
        ages: (18, 95),
        weight: 3,
        notes: &[
            "Difficulty getting to sleep for 2 months after a change of job. Sleep hygiene \
             discussed; sleep diary and online CBT for insomnia recommended. No hypnotics.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("386661006", "Fever"),
        ages: (0, 10),
        weight: 8,
        notes: &[
            "Parent reports fever for 2 days and runny nose. Alert, drinking well, wet \
             nappies. Temperature 38.1. No rash. Ears and throat mildly red. Viral illness. \
             Fever advice and traffic-light safety-netting leaflet given.",
        ],
        treatment: None,
        sensitive: false,
    },
    Complaint {
        code: coded("65363002", "Otitis media"),
        ages: (0, 12),
        weight: 6,
        notes: &[
            "Ear pain for 3 days with fever. Left tympanic membrane red and bulging. Acute \
             otitis media. Delayed antibiotic prescription if not better in 3 days; regular \
             paracetamol.",
        ],
        treatment: Some(AMOXICILLIN_SUSPENSION),
        sensitive: false,
    },
    Complaint {
        code: coded("36971009", "Sinusitis"),
        ages: (16, 80),
        weight: 3,
        notes: &[
            "Facial pain and blocked nose for 10 days after a cold. No periorbital swelling. \
             Acute sinusitis. Steam inhalation, saline rinses, analgesia. Antibiotics not \
             indicated now.",
        ],
        treatment: Some(DOXYCYCLINE_100),
        sensitive: false,
    },
    Complaint {
        code: coded("13197004", "Contraception"),
        ages: (15, 48),
        weight: 4,
        notes: &[
            "Contraception consultation. Options discussed including LARC. Chose the \
             progestogen-only pill. BP and BMI recorded. Missed pill rules explained.",
        ],
        treatment: None,
        sensitive: true,
    },
    Complaint {
        code: coded("35489007", "Depressive disorder"),
        ages: (16, 90),
        weight: 3,
        notes: &[
            "Low mood for 2 months after bereavement. PHQ-9 score 15. No thoughts of \
             self-harm. Protective factors: family. Self-referral to NHS Talking Therapies \
             discussed. Review in 2 weeks. Crisis numbers given.",
        ],
        treatment: None,
        sensitive: true,
    },
];

/// Generic encounter codes.
pub(super) const MEDICATION_REVIEW: Coded = coded("182836005", "Review of medication");
pub(super) const HEALTH_CHECK: Coded = coded("185349003", "Encounter for check up");
pub(super) const CHILD_CHECK: Coded = coded("410620009", "Well child visit");
pub(super) const CONSULTATION: Coded = coded("11429006", "Consultation");

/// Past illnesses recorded as resolved problems.
pub(super) const PAST_PROBLEMS: &[(Coded, u32)] = &[
    (coded("233604007", "Pneumonia"), 5),
    (coded("44465007", "Sprain of ankle"), 18),
    (coded("74400008", "Appendicitis"), 8),
    (coded("235919008", "Gallstones"), 30),
    (coded("65966004", "Fracture of forearm"), 6),
    (coded("128045006", "Cellulitis"), 18),
    (coded("68566005", "Urinary tract infectious disease"), 16),
    (coded("4556007", "Gastritis"), 18),
    (coded("10509002", "Acute bronchitis"), 16),
];

/// Recorded by the practice in the patient's record (gates online access).
pub(super) const ENHANCED_REVIEW_INDICATED: &str = "1364731000000104";
/// Overrides [`ENHANCED_REVIEW_INDICATED`].
pub(super) const ENHANCED_REVIEW_NOT_INDICATED: &str = "1364751000000106";
/// Online access to the record declined by the patient.
pub(super) const ACCESS_DECLINED: &str = "1290331000000103";

/// Given names by birth era (newest first) and sex.
pub(super) struct NameEra {
    /// Born in or after this year.
    pub from_year: i32,
    pub female: &'static [&'static str],
    pub male: &'static [&'static str],
}

/// Given names popular in England and Wales by the decade people were born in.
pub(super) const GIVEN_NAMES: &[NameEra] = &[
    NameEra {
        from_year: 2005,
        female: &[
            "Olivia", "Amelia", "Isla", "Ava", "Mia", "Ivy", "Lily", "Freya", "Florence", "Evie",
            "Grace", "Sophia", "Poppy", "Willow", "Aisha", "Maryam", "Zara", "Ella", "Isabella",
            "Harper", "Maya", "Sienna", "Daisy", "Rosie", "Alice", "Hafsa", "Niamh", "Matilda",
            "Elsie", "Zofia",
        ],
        male: &[
            "Oliver", "George", "Noah", "Arthur", "Leo", "Muhammad", "Harry", "Oscar", "Archie",
            "Henry", "Theo", "Jack", "Freddie", "Charlie", "Alfie", "Jacob", "Thomas", "Finley",
            "Isaac", "Yusuf", "Reuben", "Ibrahim", "Max", "Ethan", "Joshua", "Kai", "Rohan",
            "Tobias", "Ezra", "Kacper",
        ],
    },
    NameEra {
        from_year: 1975,
        female: &[
            "Emma",
            "Sophie",
            "Charlotte",
            "Hannah",
            "Laura",
            "Rebecca",
            "Amy",
            "Jessica",
            "Lauren",
            "Sarah",
            "Rachel",
            "Gemma",
            "Natalie",
            "Katie",
            "Chloe",
            "Priya",
            "Fatima",
            "Nadia",
            "Kirsty",
            "Stacey",
            "Jodie",
            "Leanne",
            "Claire",
            "Zoe",
            "Holly",
            "Aleksandra",
            "Shabana",
            "Bethan",
            "Siobhan",
            "Adaeze",
        ],
        male: &[
            "James",
            "Daniel",
            "Thomas",
            "Matthew",
            "Christopher",
            "Michael",
            "David",
            "Adam",
            "Luke",
            "Ryan",
            "Jamie",
            "Ben",
            "Samuel",
            "Mohammed",
            "Ashley",
            "Craig",
            "Liam",
            "Lee",
            "Ravi",
            "Tomasz",
            "Kwame",
            "Hassan",
            "Nathan",
            "Scott",
            "Andrew",
            "Gareth",
            "Imran",
            "Sean",
            "Dean",
            "Chinedu",
        ],
    },
    NameEra {
        from_year: 1950,
        female: &[
            "Susan",
            "Julie",
            "Karen",
            "Alison",
            "Helen",
            "Tracey",
            "Jacqueline",
            "Deborah",
            "Elaine",
            "Angela",
            "Nicola",
            "Lisa",
            "Sharon",
            "Amanda",
            "Gillian",
            "Catherine",
            "Janet",
            "Carol",
            "Linda",
            "Lorraine",
            "Yvonne",
            "Denise",
            "Beverley",
            "Ruth",
            "Anita",
            "Paramjit",
            "Bernadette",
            "Fiona",
            "Wendy",
            "Dawn",
        ],
        male: &[
            "David",
            "Paul",
            "Mark",
            "Andrew",
            "Stephen",
            "Ian",
            "Peter",
            "Richard",
            "Kevin",
            "Gary",
            "Neil",
            "Martin",
            "Simon",
            "Robert",
            "Nigel",
            "Colin",
            "Graham",
            "Keith",
            "Philip",
            "Anthony",
            "Rajesh",
            "Winston",
            "Terence",
            "Trevor",
            "Alan",
            "Clive",
            "Jaswinder",
            "Desmond",
            "Barry",
            "Malcolm",
        ],
    },
    NameEra {
        from_year: 0,
        female: &[
            "Margaret",
            "Jean",
            "Joan",
            "Patricia",
            "Dorothy",
            "Barbara",
            "Sheila",
            "Doreen",
            "Irene",
            "Elizabeth",
            "Mary",
            "Betty",
            "Joyce",
            "Brenda",
            "Maureen",
            "Valerie",
            "Eileen",
            "Pamela",
            "Sylvia",
            "June",
            "Audrey",
            "Edna",
            "Gwendoline",
            "Hilda",
            "Phyllis",
            "Kathleen",
            "Vera",
            "Marjorie",
            "Iris",
            "Gladys",
        ],
        male: &[
            "John",
            "William",
            "Robert",
            "Kenneth",
            "George",
            "Ronald",
            "Dennis",
            "Frederick",
            "Harold",
            "Albert",
            "Arthur",
            "Roy",
            "Leslie",
            "Stanley",
            "Norman",
            "Derek",
            "Raymond",
            "Geoffrey",
            "Bernard",
            "Donald",
            "Walter",
            "Eric",
            "Cyril",
            "Frank",
            "Gordon",
            "Alfred",
            "Herbert",
            "Reginald",
            "Clifford",
            "Sidney",
        ],
    },
];

/// Given names used for patients whose recorded sex is neither female nor male.
pub(super) const NEUTRAL_NAMES: &[&str] = &["Alex", "Sam", "Charlie", "Jordan", "Robin", "Jude"];

/// Family names, as varied as an English town.
pub(super) const FAMILY_NAMES: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Patel",
    "Khan",
    "Lewis",
    "James",
    "Phillips",
    "Mason",
    "Mitchell",
    "Rose",
    "Davis",
    "Rodriguez",
    "Cox",
    "Alexander",
    "Morgan",
    "Moore",
    "Hughes",
    "Edwards",
    "Hill",
    "Harris",
    "Martin",
    "Cooper",
    "Ward",
    "Turner",
    "Parker",
    "Collins",
    "Bennett",
    "Shaw",
    "Cook",
    "Bailey",
    "Richardson",
    "Carter",
    "Chapman",
    "Marshall",
    "Begum",
    "Ali",
    "Hussain",
    "Ahmed",
    "Singh",
    "Kaur",
    "Sharma",
    "Mistry",
    "Chowdhury",
    "Rahman",
    "Iqbal",
    "Akhtar",
    "Okafor",
    "Mensah",
    "Adeyemi",
    "Owusu",
    "Okonkwo",
    "Campbell",
    "Stewart",
    "MacDonald",
    "Murray",
    "Reid",
    "O'Brien",
    "O'Connor",
    "Murphy",
    "Kelly",
    "Doyle",
    "Byrne",
    "Nowak",
    "Kowalski",
    "Wiśniewski",
    "Lewandowska",
    "Popescu",
    "Nguyen",
    "Chen",
    "Wong",
    "Li",
    "Fernandes",
    "Da Silva",
    "Costa",
    "Russo",
    "Papadopoulos",
    "Yilmaz",
    "Kaya",
    "Abdi",
    "Mohamed",
    "Warsame",
    "Jenkins",
    "Lloyd",
    "Price",
    "Griffiths",
    "Morris",
    "Rees",
    "Powell",
    "Ellis",
    "Gray",
    "Knight",
    "Fox",
    "Webb",
    "Barnes",
    "Holmes",
    "Fletcher",
    "Atkinson",
    "Pearson",
    "Dixon",
    "Lawrence",
    "Hunt",
    "Palmer",
    "Booth",
    "Whitworth",
    "Ashworth",
    "Pickering",
    "Sutcliffe",
    "Greenwood",
    "Ramsbottom",
    "Hargreaves",
    "Brennan",
    "Quinn",
    "Lynch",
    "Francis",
    "Baptiste",
    "St Louis",
    "Thomas",
    "Llewellyn",
    "Pritchard",
    "Vaughan",
    "Jennings",
    "Foster",
    "Baker",
    "Gill",
    "Sandhu",
    "Bains",
];

/// Nominated community pharmacies near the practice (dispensing contractor ODS codes).
pub(super) const PHARMACIES: &[&str] = &[
    "FA032", "FX450", "FQ123", "FCJ27", "FLM49", "FH702", "FWD10", "FG419",
];

/// Organisations that send the practice correspondence.
pub(super) const HOSPITAL_TRUST: &str = "Riverside University Hospitals NHS Trust";
pub(super) const MENTAL_HEALTH_TRUST: &str = "Northvale Mental Health NHS Foundation Trust";
pub(super) const SCREENING_PROGRAMME: &str = "NHS Bowel Cancer Screening Programme";

/// A letter template. Placeholders: `{name}`, `{dob}`, `{nhs}`, `{date}`, `{gp}`, `{practice}`.
pub(super) struct LetterTemplate {
    pub kind: LetterKind,
    pub title: &'static str,
    pub organisation: &'static str,
    pub body: &'static str,
}

/// The document type of a letter template (maps to the entity's `DocumentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LetterKind {
    Discharge,
    Outpatient,
    Referral,
    Other,
}

/// The heading of a personal letter.
pub(super) const LETTER_HEADER: &str =
    "Patient: {name}\nDate of birth: {dob}\nNHS number: {nhs}\nDate: {date}\n\n";

/// Hospital and practice correspondence, by the condition it belongs to (None: anyone).
pub(super) const LETTERS: &[(Option<Cond>, LetterTemplate)] = &[
    (
        Some(Cond::AtrialFibrillation),
        LetterTemplate {
            kind: LetterKind::Outpatient,
            title: "Cardiology outpatient clinic letter",
            organisation: HOSPITAL_TRUST,
            body: "Diagnosis: paroxysmal atrial fibrillation.\n\nThank you for referring this \
                   patient with palpitations. The 7-day ambulatory ECG confirmed paroxysmal \
                   atrial fibrillation with a maximum rate of 128. Echocardiogram showed a \
                   structurally normal heart with good left ventricular function.\n\nPlan:\n\
                   1. Continue anticoagulation (CHA2DS2-VASc 3).\n2. Bisoprolol 2.5mg once \
                   daily for rate control.\n3. No routine follow-up; please re-refer if \
                   symptoms worsen.\n\nYours sincerely,\n\nDr R. Anand\nConsultant Cardiologist\n",
        },
    ),
    (
        Some(Cond::Osteoarthritis),
        LetterTemplate {
            kind: LetterKind::Outpatient,
            title: "Orthopaedic clinic letter: knee",
            organisation: HOSPITAL_TRUST,
            body: "Diagnosis: osteoarthritis of the right knee, medial compartment.\n\nSeen in \
                   the knee clinic. Weight-bearing X-rays show moderate medial joint space \
                   narrowing. Symptoms are manageable with analgesia and exercise. We \
                   discussed total knee replacement and agreed to continue conservative \
                   management for now.\n\nPlan: physiotherapy referral made; review in 6 \
                   months or sooner if night pain worsens.\n\nYours sincerely,\n\n\
                   Mr P. Okonjo\nConsultant Orthopaedic Surgeon\n",
        },
    ),
    (
        Some(Cond::Copd),
        LetterTemplate {
            kind: LetterKind::Discharge,
            title: "Discharge summary: infective exacerbation of COPD",
            organisation: HOSPITAL_TRUST,
            body: "Admitted: 3 days. Diagnosis: infective exacerbation of COPD.\n\nPresented \
                   with increased breathlessness and purulent sputum. Chest X-ray: no \
                   consolidation. Treated with nebulisers, prednisolone 30mg for 5 days and \
                   doxycycline. Oxygen weaned to room air.\n\nMedication changes: rescue pack \
                   supplied.\n\nGP actions: please review within 2 weeks and refer to \
                   pulmonary rehabilitation.\n\nDr L. Fairweather\nRespiratory Registrar\n",
        },
    ),
    (
        Some(Cond::Diabetes),
        LetterTemplate {
            kind: LetterKind::Other,
            title: "Diabetic eye screening result",
            organisation: "NHS Diabetic Eye Screening Programme",
            body: "Your diabetic eye screening result: no diabetic retinopathy found in either \
                   eye (R0M0).\n\nYou will be invited again for screening in 2 years. Keep \
                   your blood sugar, blood pressure and cholesterol under control to protect \
                   your eyes.\n\nThis letter has also been sent to your GP.\n",
        },
    ),
    (
        Some(Cond::Psoriasis),
        LetterTemplate {
            kind: LetterKind::Outpatient,
            title: "Dermatology clinic letter",
            organisation: HOSPITAL_TRUST,
            body: "Diagnosis: chronic plaque psoriasis.\n\nPlaques on elbows, knees and scalp, \
                   PASI 6. No psoriatic arthritis symptoms. We have started a vitamin D \
                   analogue and steroid combination gel and a coal tar shampoo.\n\nPlan: \
                   review in dermatology nurse clinic in 3 months.\n\nYours sincerely,\n\n\
                   Dr H. Marsh\nConsultant Dermatologist\n",
        },
    ),
    (
        Some(Cond::Stroke),
        LetterTemplate {
            kind: LetterKind::Discharge,
            title: "Discharge summary: ischaemic stroke",
            organisation: HOSPITAL_TRUST,
            body: "Admitted: 9 days. Diagnosis: left middle cerebral artery ischaemic stroke.\n\n\
                   Presented with right arm weakness and word-finding difficulty. CT head: \
                   no haemorrhage. Thrombolysed. Good recovery with mild residual weakness.\n\n\
                   Medication changes: clopidogrel 75mg daily started; atorvastatin 80mg.\n\n\
                   GP actions: BP target below 130/80; DVLA advice given (no driving for 1 \
                   month).\n\nDr S. Achebe\nStroke Consultant\n",
        },
    ),
    (
        Some(Cond::Dementia),
        LetterTemplate {
            kind: LetterKind::Outpatient,
            title: "Memory clinic letter",
            organisation: MENTAL_HEALTH_TRUST,
            body: "Diagnosis: Alzheimer's disease, mild to moderate.\n\nACE-III score 68/100. \
                   CT head shows generalised atrophy. We have started donepezil 5mg at night, \
                   increasing to 10mg after 4 weeks if tolerated.\n\nPlan: the memory \
                   service will follow up in 6 months. Information about the Alzheimer's \
                   Society and carer support given to the family.\n\nDr J. Moreau\n\
                   Consultant Old Age Psychiatrist\n",
        },
    ),
    (
        None,
        LetterTemplate {
            kind: LetterKind::Discharge,
            title: "Emergency department discharge letter",
            organisation: HOSPITAL_TRUST,
            body: "Attended the emergency department after an inversion injury of the left \
                   ankle.\n\nX-ray: no fracture (Ottawa rules). Diagnosis: lateral ligament \
                   sprain. Advised rest, ice, compression and elevation, and analgesia. \
                   Crutches supplied.\n\nNo GP action required.\n\nEmergency Department\n",
        },
    ),
    (
        None,
        LetterTemplate {
            kind: LetterKind::Discharge,
            title: "Discharge summary: laparoscopic cholecystectomy",
            organisation: HOSPITAL_TRUST,
            body: "Day case. Procedure: laparoscopic cholecystectomy for symptomatic \
                   gallstones.\n\nUncomplicated procedure. Discharged the same evening.\n\n\
                   Follow-up: wound check with the practice nurse in 7–10 days; dissolvable \
                   sutures. Return to driving when able to perform an emergency stop.\n\n\
                   Miss A. Kowalczyk\nConsultant General Surgeon\n",
        },
    ),
    (
        None,
        LetterTemplate {
            kind: LetterKind::Referral,
            title: "Referral letter: physiotherapy",
            organisation: "Riverside Medical Practice",
            body: "Reason for referral: musculoskeletal pain not settling after 6 weeks of \
                   self-management.\n\nHistory: mechanical pain, no red flags. Examination: \
                   reduced range of movement, neurology normal.\n\nMedication and allergies \
                   as per the attached summary.\n\nMany thanks for seeing this patient.\n\n\
                   Yours sincerely,\n\n{gp}\n{practice}\n",
        },
    ),
    (
        None,
        LetterTemplate {
            kind: LetterKind::Referral,
            title: "Referral letter: gastroenterology",
            organisation: "Riverside Medical Practice",
            body: "Reason for referral: change in bowel habit for 8 weeks with a positive \
                   faecal immunochemical test (FIT 14 ug Hb/g).\n\nNo weight loss. \
                   Haemoglobin normal. Please assess on the suspected lower GI cancer \
                   pathway.\n\nYours sincerely,\n\n{gp}\n{practice}\n",
        },
    ),
];

/// A letter that is the same for everybody (its body is stored once).
pub(super) const SCREENING_LEAFLET: LetterTemplate = LetterTemplate {
    kind: LetterKind::Other,
    title: "Bowel cancer screening: normal result",
    organisation: SCREENING_PROGRAMME,
    body: "NHS Bowel Cancer Screening Programme\n\nYour bowel cancer screening result is \
           normal.\n\nThis means we did not find blood in your sample. You do not need any \
           further tests at the moment. You will be invited again in 2 years if you are \
           still within the screening age range.\n\nIf you notice blood in your poo, a change \
           in your bowel habit, weight loss or tummy pain, do not wait: contact your GP \
           practice.\n\nFreephone helpline: 0800 707 60 60\n",
};

/// A letter that is withheld by the practice: `(title, organisation, body, serious harm?)`.
pub(super) const WITHHELD_LETTERS: &[(LetterKind, &str, &str, &str, bool)] = &[
    (
        LetterKind::Other,
        "Safeguarding: multi-agency meeting minutes",
        "Riverside Children's Social Care",
        "Minutes of a multi-agency safeguarding meeting. Contains information provided by \
         family members and other agencies in confidence.\n",
        false,
    ),
    (
        LetterKind::Outpatient,
        "Psychiatry outpatient letter",
        MENTAL_HEALTH_TRUST,
        "Psychiatric assessment. The team recommends that this letter is discussed with the \
         patient in person before any online release.\n",
        true,
    ),
];

/// Message threads between patients and the practice: subject, then turns as
/// `(from patient?, body)`.
pub(super) const CONVERSATIONS: &[(&str, &[(bool, &str)])] = &[
    (
        "Blood test results",
        &[
            (
                true,
                "Hello, I had a blood test last week. Could you let me know if the \
                    results are back and if I need to do anything? Thank you.",
            ),
            (
                false,
                "Hello, your results are back and the doctor has reviewed them. They \
                     are normal and no action is needed. You can see them in the app under \
                     Test results. Kind regards, Reception team.",
            ),
            (true, "Thank you very much."),
        ],
    ),
    (
        "Fit note",
        &[
            (
                true,
                "Hi, my fit note runs out on Friday and I am still not able to go back \
                    to work because of my back. Can the doctor extend it please?",
            ),
            (
                false,
                "Hello, the doctor has issued a new fit note for 2 weeks. It has been \
                     sent to you by email. If you are not improving please book a review \
                     appointment. Best wishes, Riverside Medical Practice.",
            ),
        ],
    ),
    (
        "Question about my medication",
        &[
            (
                true,
                "Can I take ibuprofen with my blood pressure tablets? I have a bad \
                    toothache.",
            ),
            (
                false,
                "Hello, ibuprofen can raise blood pressure and affect the kidneys with \
                     some blood pressure medicines, so paracetamol is a safer choice. Please \
                     see a dentist about the toothache. Our pharmacist is happy to talk \
                     this through if you call the practice. Kind regards, Practice \
                     pharmacist.",
            ),
            (true, "Thanks, I will stick to paracetamol."),
        ],
    ),
    (
        "Change of address",
        &[
            (
                true,
                "We have moved house. Our new address is 14 Mill Lane, Riverside. \
                    Please update my record.",
            ),
            (
                false,
                "Thank you, we have updated your address. Please check that your \
                     details are correct in the app.",
            ),
        ],
    ),
    (
        "Travel vaccinations",
        &[
            (
                true,
                "I am travelling to Kenya in 8 weeks. Which vaccinations do I need?",
            ),
            (
                false,
                "Hello, please complete our travel questionnaire on the practice website \
                     and book an appointment with the practice nurse at least 6 weeks \
                     before you travel. Some vaccines are not free on the NHS and may need \
                     to be given at a travel clinic.",
            ),
        ],
    ),
    (
        "Referral update",
        &[
            (
                true,
                "I was referred to the hospital 3 months ago and have not heard \
                    anything. Can you check?",
            ),
            (
                false,
                "Hello, the referral was received by the hospital and you are on their \
                     waiting list. You can check your appointment on the NHS App or call the \
                     hospital's booking team.",
            ),
            (true, "Thank you, I have found it in the app."),
            (false, "Glad to help."),
        ],
    ),
    (
        "Repeat prescription query",
        &[
            (
                true,
                "My pharmacy says my prescription has not arrived. I ordered it 4 days \
                    ago.",
            ),
            (
                false,
                "Hello, the prescription was signed yesterday and sent electronically to \
                     your nominated pharmacy. It should be ready to collect tomorrow.",
            ),
        ],
    ),
    (
        "Sick note for my child's school",
        &[(
            true,
            "Does the school need a note from the doctor for my son's chickenpox?",
        )],
    ),
    (
        "Results of my scan",
        &[
            (
                true,
                "Has the practice received the report of my ultrasound scan?",
            ),
            (
                false,
                "Hello, the report has arrived and the doctor would like to discuss it \
                     with you. Please book a telephone appointment at a time that suits \
                     you.",
            ),
        ],
    ),
    (
        "Medication review",
        &[
            (
                false,
                "Hello, your annual medication review is due. Please book an \
                     appointment with the practice pharmacist using the app or call the \
                     practice.",
            ),
            (true, "Thank you, I have booked for next Tuesday."),
        ],
    ),
];

/// Notes patients add to prescription requests.
pub(super) const REQUEST_NOTES: &[&str] = &[
    "Going on holiday on the 12th, please could this be ready before then.",
    "Running low, thank you.",
    "Please send to my usual pharmacy.",
    "I have 3 days left.",
];

/// Reasons patients give when booking.
pub(super) const BOOKING_REASONS: &[&str] = &[
    "Review of blood pressure",
    "Knee pain for 3 weeks",
    "Asthma review",
    "Contraceptive pill review",
    "Medication review",
    "Cough that will not go away",
    "Rash on my arm",
    "Follow-up of blood test results",
    "Feeling low",
    "Back pain",
    "Diabetes check",
    "Ear pain",
];

/// Why a result or letter was retracted.
pub(super) const RETRACTION_REASON: &str =
    "Laboratory amended report: sample labelled for the wrong patient.";
