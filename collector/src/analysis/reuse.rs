//! Reuse: underused, pooled or surplus devices given to devices due for
//! renewal or short of processor, and to departments' requests, matched
//! by the assignment in `assign`.

use super::pool::PoolCandidates;
use super::*;

/// Reuse: underused, pooled or surplus devices given to devices due for
/// renewal or short of processor, then to IT's requests.
pub(super) fn reuse<'a>(
    input: &'a AnalysisInput,
    context: &Context<'_>,
    assessed: &[Assessed<'a>],
    poolable: &PoolCandidates<'a>,
    surplus: &HashSet<usize>,
    taken: &mut HashSet<usize>,
) -> Vec<Suggestion> {
    let config = context.config;
    let mut departments: HashMap<&str, u32> = HashMap::new();
    let mut suggestions = Vec::new();
    let underused = |d: &Assessed<'_>| {
        d.facts.usage.weeks > 0 && d.active_per_week < config.underused_active_hours_per_week
    };
    let pooled: HashSet<usize> = poolable
        .values()
        .flat_map(|(_, d)| d.iter().copied())
        .collect();
    let mut donor_devices: Vec<usize> = (0..assessed.len())
        .filter(|&i| {
            let d = &assessed[i];
            // A device due for renewal is a recipient, never a donor.
            !taken.contains(&i)
                && d.healthy()
                && !d.overloaded()
                && !d.due()
                && (pooled.contains(&i) || surplus.contains(&i) || underused(d))
        })
        .collect();
    donor_devices.sort_unstable();
    let donors: Vec<assign::Donor> = donor_devices
        .iter()
        .map(|&i| {
            let d = &assessed[i];
            let (ram_mb, cores, storage_gb) = d.specs();
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            assign::Donor {
                device: i as u64,
                category: d.category.code(),
                ram_mb,
                cores,
                storage_gb,
                age_years: d
                    .age_years
                    .map_or(u32::MAX / 4, |a| a.max(0.0).floor() as u32),
                department: department_code(&mut departments, &d.facts.department),
            }
        })
        .collect();
    // Recipients: devices due for renewal and CPU-bound ones (more memory
    // or disk cannot help), then IT's requests. A due device no donor fits
    // is repaired, upgraded or kept longer below.
    let recipient_devices: Vec<usize> = (0..assessed.len())
        .filter(|&i| !taken.contains(&i) && (assessed[i].due() || assessed[i].cpu_bound))
        .collect();
    let mut recipients: Vec<assign::Recipient> = Vec::new();
    let mut recipient_subjects: Vec<RecipientSubject<'_>> = Vec::new();
    for &i in &recipient_devices {
        let d = &assessed[i];
        let (ram_mb, cores, storage_gb) = d.specs();
        recipients.push(assign::Recipient {
            device: Some(i as u64),
            category: d.category.code(),
            ram_mb,
            cores: if d.cpu_bound { cores + 1 } else { cores },
            storage_gb,
            department: department_code(&mut departments, &d.facts.department),
            avoided_g: grams(d.replacement.embodied_kgco2e),
        });
        recipient_subjects.push(RecipientSubject::Device(i));
    }
    for request in &input.requests {
        let Some((category, _)) = Category::from_name(&request.category) else {
            continue;
        };
        let Some(footprint) = context.embodied.get(category.name()) else {
            continue;
        };
        let mb = |b: Option<i64>| u64::try_from(b.unwrap_or(0) >> 20).unwrap_or(0);
        for unit in 0..request.quantity {
            recipients.push(assign::Recipient {
                device: None,
                category: category.code(),
                ram_mb: mb(request.min_memory_bytes),
                cores: u32::try_from(request.min_logical_cores.unwrap_or(0)).unwrap_or(0),
                storage_gb: mb(request.min_storage_bytes) >> 10,
                department: department_code(&mut departments, &request.department),
                avoided_g: grams(footprint.embodied_kgco2e),
            });
            recipient_subjects.push(RecipientSubject::Request(
                request, unit, category, footprint,
            ));
        }
    }
    for matched in assign::assign(&donors, &recipients) {
        let donor_index = donor_devices[matched.donor];
        let donor = &assessed[donor_index];
        let why = if pooled.contains(&donor_index) {
            "spare in its department's pool"
        } else if surplus.contains(&donor_index) {
            "a second device of its holder"
        } else {
            "underused"
        };
        let mut suggestion = match recipient_subjects[matched.recipient] {
            RecipientSubject::Device(recipient_index) => {
                taken.insert(recipient_index);
                replacement(donor, why, &assessed[recipient_index], config)
            }
            RecipientSubject::Request(request, unit, category, footprint) => {
                fulfilment(donor, why, (request, unit), (category, footprint), config)
            }
        };
        taken.insert(donor_index);
        suggestion.departments.push(donor.facts.department.clone());
        if let RecipientSubject::Device(recipient_index) = recipient_subjects[matched.recipient] {
            suggestion
                .departments
                .push(assessed[recipient_index].facts.department.clone());
        }
        suggestion.departments.sort();
        suggestion.departments.dedup();
        suggestions.push(suggestion);
    }
    suggestions
}

/// A reuse that replaces a device: the donor goes to the recipient.
fn replacement(
    donor: &Assessed<'_>,
    why: &str,
    recipient: &Assessed<'_>,
    config: &AnalysisSettings,
) -> Suggestion {
    let (ram, cores, storage) = donor.specs();
    let reason = if recipient.cpu_bound {
        format!(
            "whose processor is busy (p95 ≥ 90%) in {:.0}% of active hours",
            100.0
                * recipient
                    .facts
                    .usage
                    .hot_share(recipient.facts.usage.cpu_hot_hours)
        )
    } else if recipient.failing_disk {
        format!("which is {} with a failing disk", recipient.age_text())
    } else {
        format!(
            "which is {}, past the {:.0}-year lifetime of a {}",
            recipient.age_text(),
            recipient.footprint.lifetime_years,
            recipient.category.name()
        )
    };
    let (need_ram, need_cores, need_storage) = recipient.specs();
    Suggestion {
        id: stable_id(
            Kind::Reuse,
            &format!("{}>{}", donor.facts.device_id, recipient.facts.device_id),
        ),
        kind: Kind::Reuse,
        departments: vec![],
        devices: vec![
            donor.facts.device_id.clone(),
            recipient.facts.device_id.clone(),
        ],
        rationale: format!(
            "Give {} ({why}, {:.1} active h/week, {}) to replace {}, {reason}: \
                 {} GB ≥ {} GB memory, {} ≥ {} cores, {} GB ≥ {} GB storage; no new {} to buy.",
            donor.label(),
            donor.active_per_week,
            donor.age_text(),
            recipient.label(),
            ram / 1024,
            need_ram / 1024,
            cores,
            need_cores + u32::from(recipient.cpu_bound),
            storage,
            need_storage,
            recipient.category.name()
        ),
        avoided_kgco2e: Avoided::of(recipient.replacement, 1.0),
        avoided_cost_eur: recipient.price(config),
        material_facts: format!(
            "{}|{}|{}|{}",
            recipient.category.name(),
            donor.age_years.map_or(-1.0, f64::floor),
            recipient.cpu_bound,
            recipient.failing_disk
        ),
        reuse: Some(ReuseMatch {
            donor: donor.facts.device_id.clone(),
            replaces: Some(recipient.facts.device_id.clone()),
            request: None,
        }),
    }
}

/// A reuse that fulfils unit `unit` of a department's request.
fn fulfilment(
    donor: &Assessed<'_>,
    why: &str,
    (request, unit): (&DeviceRequest, u32),
    (category, footprint): (Category, &Footprint),
    config: &AnalysisSettings,
) -> Suggestion {
    let (ram, cores, storage) = donor.specs();
    Suggestion {
        id: stable_id(
            Kind::Reuse,
            &format!("{}>request:{}:{unit}", donor.facts.device_id, request.id),
        ),
        kind: Kind::Reuse,
        departments: vec![request.department.clone()],
        devices: vec![donor.facts.device_id.clone()],
        rationale: format!(
            "Give {} ({why}, {:.1} active h/week, {}, {} GB memory, {} cores, {} GB \
                 storage) to {} for its request #{} of a {}; no new one to buy.",
            donor.label(),
            donor.active_per_week,
            donor.age_text(),
            ram / 1024,
            cores,
            storage,
            request.department,
            request.id,
            category.name()
        ),
        avoided_kgco2e: Avoided::of(footprint, 1.0),
        avoided_cost_eur: config.default_price_eur.get(category.name()).copied(),
        material_facts: format!(
            "{}|{}",
            category.name(),
            donor.age_years.map_or(-1.0, f64::floor)
        ),
        reuse: Some(ReuseMatch {
            donor: donor.facts.device_id.clone(),
            replaces: None,
            request: Some((request.id, unit)),
        }),
    }
}

/// What a recipient of the assignment stands for: a device (by index), or
/// one unit of a request, with its category's footprint.
enum RecipientSubject<'a> {
    Device(usize),
    Request(&'a DeviceRequest, u32, Category, &'a Footprint),
}

/// A department's code for the assignment: equal names, equal codes.
fn department_code<'a>(codes: &mut HashMap<&'a str, u32>, name: &'a str) -> u32 {
    let next = u32::try_from(codes.len()).unwrap_or(u32::MAX);
    *codes.entry(name).or_insert(next)
}

fn grams(kg: f64) -> u64 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let grams = (kg * 1000.0).round().max(0.0) as u64;
    grams
}
