//! Pools: a department's devices of one category beyond those it uses at
//! once, least used first, over its working hours. Laptops go to a shared
//! pool; desktops become shared desks: different actions, counted apart.

use super::*;

/// The hour starts of `window` inside `working` hours, local time.
fn working_hour_starts(
    working: &WorkingHours,
    window: (i64, i64),
    tz: &jiff::tz::TimeZone,
) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut hour = window.0 - window.0.rem_euclid(3_600_000);
    while hour < window.1 {
        if let Ok(at) = jiff::Timestamp::from_millisecond(hour) {
            let local = at.to_zoned(tz.clone());
            let day = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
            let minute = i32::from(local.hour()) * 60 + i32::from(local.minute());
            if working.days[day] && minute >= working.start_minute && minute < working.end_minute {
                starts.push(hour);
            }
        }
        hour += 3_600_000;
    }
    starts
}

/// The p95 of concurrently active devices over the working hours (hours
/// without a row count as 0).
fn concurrency_p95(hours: &[(i64, i64)], working_starts: &[i64]) -> i64 {
    let counts: HashMap<i64, i64> = hours.iter().copied().collect();
    let mut values: Vec<i64> = working_starts
        .iter()
        .map(|h| counts.get(h).copied().unwrap_or(0))
        .collect();
    percentile(&mut values, 95.0)
}

/// Each department's devices with use, per category, and the devices it
/// could pool: its count above the p95 of its devices of that category
/// active at once over working hours, the least used first.
pub(super) fn poolable<'a>(
    input: &'a AnalysisInput,
    context: &Context<'_>,
    assessed: &[Assessed<'a>],
    taken: &HashSet<usize>,
) -> (DepartmentDevices<'a>, PoolCandidates<'a>) {
    let mut by_department: DepartmentDevices<'a> = BTreeMap::new();
    for (index, device) in assessed.iter().enumerate() {
        if device.facts.usage.weeks > 0 {
            by_department
                .entry((device.facts.department.as_str(), device.category))
                .or_default()
                .push(index);
        }
    }
    let mut poolable: PoolCandidates<'a> = BTreeMap::new();
    // Departments mostly share their working hours: their hours are listed once.
    let mut working_starts: HashMap<WorkingHours, Vec<i64>> = HashMap::new();
    for (&(department, category), members) in &by_department {
        let hours = input
            .department_hours
            .get(&(department.to_owned(), category.name().to_owned()))
            .map_or(&[][..], Vec::as_slice);
        let working = (context.working_hours)(department);
        let starts = working_starts
            .entry(working)
            .or_insert_with(|| working_hour_starts(&working, input.window, &context.time_zone));
        let p95 = concurrency_p95(hours, starts);
        let count = i64::try_from(members.len()).unwrap_or(i64::MAX);
        let spare = count - p95;
        if spare <= 0 {
            continue;
        }
        let mut candidates: Vec<usize> = members
            .iter()
            .copied()
            .filter(|&i| {
                !assessed[i].overloaded() && !assessed[i].failing_disk && !taken.contains(&i)
            })
            .collect();
        candidates.sort_by(|&a, &b| {
            assessed[a]
                .active_per_week
                .total_cmp(&assessed[b].active_per_week)
                .then_with(|| {
                    assessed[a]
                        .facts
                        .device_id
                        .cmp(&assessed[b].facts.device_id)
                })
        });
        candidates.truncate(usize::try_from(spare).unwrap_or(0));
        poolable.insert((department, category), (p95, candidates));
    }
    (by_department, poolable)
}

/// Pools, with the devices nothing else claimed.
pub(super) fn pools(
    by_department: &DepartmentDevices<'_>,
    poolable: &PoolCandidates<'_>,
    assessed: &[Assessed<'_>],
    config: &AnalysisSettings,
    taken: &mut HashSet<usize>,
) -> Vec<Suggestion> {
    let mut suggestions = Vec::new();
    for (&(department, category), (p95, candidates)) in poolable {
        let free: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|i| !taken.contains(i))
            .collect();
        if free.is_empty() {
            continue;
        }
        let total = by_department
            .get(&(department, category))
            .map_or(0, Vec::len);
        let mut avoided = Avoided::none("");
        let mut cost = 0.0;
        let mut names = Vec::new();
        for &i in &free {
            let device = &assessed[i];
            let one = Avoided::of(device.replacement, 1.0);
            avoided.value += one.value;
            avoided.low += one.low;
            avoided.high += one.high;
            avoided.source.clone_from(&one.source);
            cost += device.price(config).unwrap_or(0.0);
            names.push(format!(
                "{} ({:.1} h/week)",
                device.facts.hostname, device.active_per_week
            ));
            taken.insert(i);
        }
        avoided.value = round1(avoided.value);
        avoided.low = round1(avoided.low);
        avoided.high = round1(avoided.high);
        let plural = category.plural();
        let action = match category {
            Category::Desktop => "can become shared desks (a desk-sharing plan)",
            _ => "can go to a shared pool",
        };
        suggestions.push(Suggestion {
            id: stable_id(Kind::Pool, &format!("{department}/{}", category.name())),
            kind: Kind::Pool,
            departments: vec![department.to_owned()],
            devices: free
                .iter()
                .map(|&i| assessed[i].facts.device_id.clone())
                .collect(),
            rationale: format!(
                "{department}: at most {p95} of its {total} {plural} are in use at once (p95 \
                 over working hours, {} weeks); {} {action} instead of new purchases: {}.",
                config.weeks,
                free.len(),
                names.join(", ")
            ),
            avoided_kgco2e: avoided,
            avoided_cost_eur: Some(round1(cost)),
            reuse: None,
            material_facts: format!("{}", free.len()),
        });
    }
    suggestions
}

/// Each department's devices with weeks of use, per category, by index.
pub(super) type DepartmentDevices<'a> = BTreeMap<(&'a str, Category), Vec<usize>>;

/// Each department's p95 of devices of a category active at once, and the
/// devices it could pool.
pub(super) type PoolCandidates<'a> = BTreeMap<(&'a str, Category), (i64, Vec<usize>)>;
