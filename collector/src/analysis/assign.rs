//! The reuse assignment: which donor device goes to which recipient
//! (README, "Suggestions for IT": reuse across departments).
//!
//! Donors (poolable, underused, surplus devices) are matched to recipients
//! (devices due for renewal, overloaded devices, requests IT records) when
//! they fit: same category, and RAM, logical cores and storage at least the
//! need. A donor and a recipient are each used at most once, and a device
//! that is both is never matched with itself. The objective is
//! lexicographic: (1) the most avoided embodied carbon, (2) then the
//! youngest donors, (3) then the fewest moves between departments.
//!
//! # Method
//! Devices that are identical for the objective form classes (donors by
//! department, specs and age; recipients by department, needs and avoided
//! grams), and each category is a min-cost flow between classes with their
//! sizes as capacities. Specs are first reduced to the values that can
//! decide a fit (a need is raised to the smallest donor value that meets it,
//! a donor lowered to the largest need value it meets), which keeps classes
//! few without changing any fit.
//!
//! Carbon and age do not depend on departments, so a category is solved in
//! two steps. First without departments, on a small network of (spec, age)
//! and (need, avoided) groups; by complementary slackness, its optimal dual
//! prices tell which classes every assignment optimal for carbon and age
//! matches entirely, which it may match, which it never does, and which
//! specs may serve which needs (equal prices). Then with departments,
//! restricted to that: the only costs left are a required unit left out
//! and a move.
//!
//! That second network has no edge per pair of classes: donors enter at
//! (department, spec) hubs and recipients leave at (department, need) hubs,
//! the hubs of a department meet directly, and moves go through per-spec
//! hubs at the cost of one move. Where two sets of hubs meet, the
//! three-dimensional dominance is listed pair by pair or, when that is
//! larger, laid out as a grid of need values in which flow only steps down.
//!
//! Costs are triples (−avoided grams, age, moves) compared
//! lexicographically, so no weighting can overflow or be mis-scaled. Both
//! flows come from successive shortest paths: Dijkstra with potentials finds
//! the next distance, push-relabel saturates every path at that distance at
//! once, until one more unit would not lower the cost. Phases are the
//! distinct marginal costs: a few dozen on the small network, a handful on
//! the large one; each is O(E log V) for Dijkstra plus push-relabel, whose
//! O(V² √E) worst case is in practice a few passes over the edges.
//!
//! Class flows become device matches in index order. A device given itself
//! trades places with another match of the same hubs, or else with any
//! match where that adds no move, neither of which changes the objective;
//! failing that (rare: its classes hold only itself), its category is
//! solved again with that device's path to itself cut, so the result stays
//! exact.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::ops::{Add, Sub};

/// A device that can be given away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Donor {
    /// Device id, unique among donors.
    pub device: u64,
    /// Category code: only equality matters.
    pub category: u8,
    pub ram_mb: u64,
    /// Logical cores.
    pub cores: u32,
    pub storage_gb: u64,
    /// Whole years.
    pub age_years: u32,
    pub department: u32,
}

/// A need: a device to replace, or a request with no device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    /// The device to replace, unique among recipients; `None` for a request.
    pub device: Option<u64>,
    /// Category code: only equality matters.
    pub category: u8,
    /// Minimum memory.
    pub ram_mb: u64,
    /// Minimum logical cores.
    pub cores: u32,
    /// Minimum storage.
    pub storage_gb: u64,
    pub department: u32,
    /// Embodied footprint of the new device not bought, in grams.
    pub avoided_g: u64,
}

/// Donor `donor` goes to recipient `recipient` (indexes into the inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Match {
    pub donor: usize,
    pub recipient: usize,
}

/// The optimal assignment, sorted by recipient. A match only ever avoids
/// carbon: a recipient with `avoided_g == 0` is left alone, since giving it
/// a donor would only add donor age.
pub fn assign(donors: &[Donor], recipients: &[Recipient]) -> Vec<Match> {
    let mut categories: BTreeMap<u8, (Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for (index, donor) in donors.iter().enumerate() {
        categories.entry(donor.category).or_default().0.push(index);
    }
    for (index, recipient) in recipients.iter().enumerate() {
        categories
            .entry(recipient.category)
            .or_default()
            .1
            .push(index);
    }
    let mut matches = Vec::new();
    for (donor_ids, recipient_ids) in categories.values() {
        let mut apart = HashSet::new();
        loop {
            let problem = Problem::new(donors, recipients, donor_ids, recipient_ids, &apart);
            let (found, unresolved) = problem.solve();
            let known = apart.len();
            apart.extend(unresolved);
            // A device kept apart can never be given itself, so each round
            // adds one; `found` holds no self-match either way.
            if apart.len() == known {
                matches.extend(found);
                break;
            }
        }
    }
    matches.sort_unstable_by_key(|m| (m.recipient, m.donor));
    matches
}

/// (RAM, cores, storage), as had by a donor or needed by a recipient.
type Spec = (u64, u32, u64);

fn fits(have: Spec, need: Spec) -> bool {
    have.0 >= need.0 && have.1 >= need.1 && have.2 >= need.2
}

fn distinct<T: Ord>(values: impl Iterator<Item = T>) -> Vec<T> {
    let mut values: Vec<T> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// The smallest of the sorted `values` that is at least `x`.
fn at_least<T: Ord + Copy>(values: &[T], x: T) -> Option<T> {
    values.get(values.partition_point(|&v| v < x)).copied()
}

/// The position of the largest of the sorted `values` that is at most `x`.
fn at_most<T: Ord + Copy>(values: &[T], x: T) -> Option<usize> {
    values.partition_point(|&v| v <= x).checked_sub(1)
}

/// Interchangeable devices of one category.
struct Class {
    department: u32,
    spec: Spec,
    /// Age for donors, avoided grams for recipients.
    value: u64,
    /// A device whose path to itself is cut (then the class holds only it).
    apart: bool,
    /// Indexes into the inputs, ascending.
    members: Vec<usize>,
}

/// (department, spec, age or avoided grams, the index of a device kept
/// apart): what makes devices interchangeable.
type ClassKey = (u32, Spec, u64, Option<usize>);

/// Groups `(key, index)` items by key; keys with the same department and
/// spec are adjacent.
fn classes(mut items: Vec<(ClassKey, usize)>) -> Vec<Class> {
    items.sort_unstable();
    let mut classes: Vec<Class> = Vec::new();
    let mut last = None;
    for (key, index) in items {
        if last == Some(key) {
            if let Some(class) = classes.last_mut() {
                class.members.push(index);
            }
        } else {
            let (department, spec, value, apart) = key;
            classes.push(Class {
                department,
                spec,
                value,
                apart: apart.is_some(),
                members: vec![index],
            });
            last = Some(key);
        }
    }
    classes
}

/// One category's assignment.
struct Problem<'a> {
    donors: &'a [Donor],
    recipients: &'a [Recipient],
    supply: Vec<Class>,
    demand: Vec<Class>,
}

/// A match of devices, with the buckets they came through.
#[derive(Clone, Copy)]
struct Pair {
    donor: usize,
    supply: usize,
    recipient: usize,
    demand: usize,
}

/// What carbon and age ask of a class, by the prices of [`Problem::prices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    /// None of it can be matched in an optimal assignment.
    Unused,
    /// Matching any amount of it is optimal.
    Optional,
    /// All of it must be matched.
    Required,
}

impl Role {
    /// Cost of a unit through the class's source or sink edge.
    fn cost(self) -> Cost {
        if self == Self::Required {
            REQUIRED
        } else {
            ZERO
        }
    }
}

/// Classes that enter (or leave) the network by one edge: bucket `i` of
/// `supply` by edge `supply_base + 2 * i`, of `demand` by `demand_base + 2 * i`.
struct Buckets {
    supply: Vec<Vec<usize>>,
    demand: Vec<Vec<usize>>,
    supply_base: usize,
    demand_base: usize,
}

/// Optimal dual prices of the category without departments.
struct Prices {
    /// Per class: its role, and its level, the price at which a unit of it
    /// enters (donors) or is taken (recipients): a donor may serve a
    /// recipient at optimal cost only where the two levels are equal.
    supply: Vec<(Role, Cost)>,
    demand: Vec<(Role, Cost)>,
    /// Levels of the spec and need hubs.
    spec_level: BTreeMap<Spec, Cost>,
    need_level: BTreeMap<Spec, Cost>,
}

/// A spec or need, its node, and its price level.
type Hub = (Spec, usize, Cost);

/// [`Network::connect`] within each price level.
fn connect_levels(net: &mut Network, sources: &[Hub], sinks: &[Hub], cost: Cost) {
    type Side = Vec<(Spec, usize)>;
    let mut levels: BTreeMap<Cost, (Side, Side)> = BTreeMap::new();
    for &(spec, node, level) in sources {
        levels.entry(level).or_default().0.push((spec, node));
    }
    for &(need, node, level) in sinks {
        levels.entry(level).or_default().1.push((need, node));
    }
    for (sources, sinks) in levels.values() {
        net.connect(sources, sinks, cost);
    }
}

const SOURCE: usize = 0;
const SINK: usize = 1;

impl<'a> Problem<'a> {
    fn new(
        donors: &'a [Donor],
        recipients: &'a [Recipient],
        donor_ids: &[usize],
        recipient_ids: &[usize],
        apart: &HashSet<u64>,
    ) -> Self {
        let have_ram = distinct(donor_ids.iter().map(|&i| donors[i].ram_mb));
        let have_cores = distinct(donor_ids.iter().map(|&i| donors[i].cores));
        let have_storage = distinct(donor_ids.iter().map(|&i| donors[i].storage_gb));
        // A need no donor meets is dropped; the others rise to donor values.
        let needs: Vec<(Spec, usize)> = recipient_ids
            .iter()
            .filter_map(|&i| {
                let r = &recipients[i];
                let need = (
                    at_least(&have_ram, r.ram_mb)?,
                    at_least(&have_cores, r.cores)?,
                    at_least(&have_storage, r.storage_gb)?,
                );
                Some((need, i))
            })
            .collect();
        let need_ram = distinct(needs.iter().map(|n| n.0.0));
        let need_cores = distinct(needs.iter().map(|n| n.0.1));
        let need_storage = distinct(needs.iter().map(|n| n.0.2));
        let supply = classes(
            donor_ids
                .iter()
                .filter_map(|&i| {
                    let d = &donors[i];
                    let spec = (
                        need_ram[at_most(&need_ram, d.ram_mb)?],
                        need_cores[at_most(&need_cores, d.cores)?],
                        need_storage[at_most(&need_storage, d.storage_gb)?],
                    );
                    let alone = apart.contains(&d.device).then_some(i);
                    Some(((d.department, spec, u64::from(d.age_years), alone), i))
                })
                .collect(),
        );
        let demand = classes(
            needs
                .into_iter()
                .map(|(need, i)| {
                    let r = &recipients[i];
                    let alone = r.device.filter(|d| apart.contains(d)).map(|_| i);
                    ((r.department, need, r.avoided_g, alone), i)
                })
                .collect(),
        );
        Self {
            donors,
            recipients,
            supply,
            demand,
        }
    }

    fn fits(&self, donor: usize, recipient: usize) -> bool {
        let (d, r) = (&self.donors[donor], &self.recipients[recipient]);
        fits(
            (d.ram_mb, d.cores, d.storage_gb),
            (r.ram_mb, r.cores, r.storage_gb),
        )
    }

    fn same_device(&self, donor: usize, recipient: usize) -> bool {
        self.recipients[recipient].device == Some(self.donors[donor].device)
    }

    /// The matches, and the devices given themselves that no swap could fix.
    fn solve(&self) -> (Vec<Match>, Vec<u64>) {
        if self.supply.is_empty() || self.demand.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let prices = self.prices();
        let (mut network, buckets) = self.network(&prices);
        network.min_cost_flow(SOURCE, SINK, Goal::Gain);
        let flows: Vec<(usize, usize, u64)> = network
            .decompose(SOURCE, SINK)
            .into_iter()
            .map(|(first, last, amount)| {
                (
                    (first - buckets.supply_base) / 2,
                    (last - buckets.demand_base) / 2,
                    amount,
                )
            })
            .collect();
        self.expand(&buckets, &flows)
    }

    /// Carbon and age do not depend on departments: solves the category
    /// without them, on a small network, and returns optimal dual prices.
    /// A flow is then optimal for carbon and age exactly when it satisfies
    /// complementary slackness with these prices, which [`Self::network`]
    /// turns into edges and lower bounds; moves are minimised within that.
    fn prices(&self) -> Prices {
        let mut net = Network::default();
        net.add_nodes(2);
        // Groups: donors by (spec, age), recipients by (need, avoided); a
        // device kept apart is a group of its own. Values: node and size.
        let group_of =
            |c: usize, class: &Class| (class.spec, class.value, class.apart.then_some(c));
        let mut donor_groups: BTreeMap<(Spec, u64, Option<usize>), (usize, u64)> = BTreeMap::new();
        for (c, class) in self.supply.iter().enumerate() {
            donor_groups
                .entry(group_of(c, class))
                .or_insert_with(|| (net.add_nodes(1), 0))
                .1 += class.members.len() as u64;
        }
        let mut recipient_groups: BTreeMap<(Spec, u64, Option<usize>), (usize, u64)> =
            BTreeMap::new();
        for (c, class) in self.demand.iter().enumerate() {
            recipient_groups
                .entry(group_of(c, class))
                .or_insert_with(|| (net.add_nodes(1), 0))
                .1 += class.members.len() as u64;
        }
        let mut specs: BTreeMap<Spec, usize> = BTreeMap::new();
        for &(spec, _, apart) in donor_groups.keys() {
            if apart.is_none() {
                specs.entry(spec).or_insert_with(|| net.add_nodes(1));
            }
        }
        let mut needs: BTreeMap<Spec, usize> = BTreeMap::new();
        for &(need, _, apart) in recipient_groups.keys() {
            if apart.is_none() {
                needs.entry(need).or_insert_with(|| net.add_nodes(1));
            }
        }
        let spec_hubs: Vec<(Spec, usize)> = specs.iter().map(|(&s, &n)| (s, n)).collect();
        let need_hubs: Vec<(Spec, usize)> = needs.iter().map(|(&s, &n)| (s, n)).collect();
        net.connect(&spec_hubs, &need_hubs, ZERO);

        // Every donor leaves the source, given (at its age) or kept (free),
        // so every optimal flow has the same value and the prices describe
        // them all.
        let mut donor_edges = BTreeMap::new();
        for (&(spec, age, apart), &(node, size)) in &donor_groups {
            net.edge(SOURCE, node, size, ZERO);
            let keep = net.edge(node, SINK, UNLIMITED, ZERO);
            let give = match apart {
                None => Some(net.edge(node, specs[&spec], UNLIMITED, Cost::age(age))),
                Some(c) => {
                    net.connect(&[(spec, node)], &need_hubs, Cost::age(age));
                    for (&(need, _, other), &(to, _)) in &recipient_groups {
                        if let Some(k) = other
                            && fits(spec, need)
                            && !self
                                .same_device(self.supply[c].members[0], self.demand[k].members[0])
                        {
                            net.edge(node, to, UNLIMITED, Cost::age(age));
                        }
                    }
                    None
                }
            };
            donor_edges.insert((spec, age, apart), (node, give, keep));
        }
        let mut recipient_edges = BTreeMap::new();
        for (&(need, avoided, apart), &(node, size)) in &recipient_groups {
            let take = match apart {
                None => Some(net.edge(needs[&need], node, UNLIMITED, ZERO)),
                Some(_) => {
                    net.connect(&spec_hubs, &[(need, node)], ZERO);
                    None
                }
            };
            let serve = net.edge(node, SINK, size, Cost::avoided(avoided));
            recipient_edges.insert((need, avoided, apart), (node, take, serve));
        }
        net.min_cost_flow(SOURCE, SINK, Goal::MaxFlow);

        let mut prices = Prices {
            supply: Vec::with_capacity(self.supply.len()),
            demand: Vec::with_capacity(self.demand.len()),
            spec_level: specs
                .into_iter()
                .map(|(spec, hub)| (spec, net.potential[hub]))
                .collect(),
            need_level: needs
                .into_iter()
                .map(|(need, hub)| (need, net.potential[hub]))
                .collect(),
        };
        for (c, class) in self.supply.iter().enumerate() {
            let (node, give, keep) = donor_edges[&group_of(c, class)];
            let role = if give.is_some_and(|give| net.reduced(give) > ZERO) {
                Role::Unused
            } else if net.reduced(keep) > ZERO {
                Role::Required
            } else {
                Role::Optional
            };
            // What a unit costs where it enters a need: the hub's price, or
            // for a device kept apart, its own price plus its age.
            let level = if class.apart {
                net.potential[node] + Cost::age(class.value)
            } else {
                prices.spec_level[&class.spec]
            };
            prices.supply.push((role, level));
        }
        for (c, class) in self.demand.iter().enumerate() {
            let (node, take, serve) = recipient_edges[&group_of(c, class)];
            // Prices of nodes no flow can reach say nothing.
            let role = if !net.reached[node]
                || take.is_some_and(|take| net.reduced(take) > ZERO)
                || net.reduced(serve) > ZERO
            {
                Role::Unused
            } else if net.reduced(serve) < ZERO {
                Role::Required
            } else {
                Role::Optional
            };
            let level = if class.apart {
                net.potential[node]
            } else {
                prices.need_level[&class.spec]
            };
            prices.demand.push((role, level));
        }
        prices
    }

    /// The network with departments, restricted to what is optimal for
    /// carbon and age: costs are (required units left out, moves). Donors
    /// enter at their (department, spec) hub by one edge per role, as the
    /// classes of a hub and role are interchangeable here; a device kept
    /// apart enters alone. Recipients leave alike.
    fn network(&self, prices: &Prices) -> (Network, Buckets) {
        let mut net = Network::default();
        net.add_nodes(2);
        let mut offers: BTreeMap<(u32, Spec), usize> = BTreeMap::new();
        let mut apart_supply: Vec<(usize, usize)> = Vec::new();
        let mut supply_buckets: BTreeMap<(usize, Role), Vec<usize>> = BTreeMap::new();
        for (c, class) in self.supply.iter().enumerate() {
            let role = prices.supply[c].0;
            if role == Role::Unused {
                continue;
            }
            let node = if class.apart {
                let node = net.add_nodes(1);
                apart_supply.push((c, node));
                node
            } else {
                *offers
                    .entry((class.department, class.spec))
                    .or_insert_with(|| net.add_nodes(1))
            };
            supply_buckets.entry((node, role)).or_default().push(c);
        }
        let mut wants: BTreeMap<(u32, Spec), usize> = BTreeMap::new();
        let mut apart_demand: Vec<(usize, usize)> = Vec::new();
        let mut demand_buckets: BTreeMap<(usize, Role), Vec<usize>> = BTreeMap::new();
        for (c, class) in self.demand.iter().enumerate() {
            let role = prices.demand[c].0;
            if role == Role::Unused {
                continue;
            }
            let node = if class.apart {
                let node = net.add_nodes(1);
                apart_demand.push((c, node));
                node
            } else {
                *wants
                    .entry((class.department, class.spec))
                    .or_insert_with(|| net.add_nodes(1))
            };
            demand_buckets.entry((node, role)).or_default().push(c);
        }
        let size = |classes: &[Class], members: &[usize]| -> u64 {
            members
                .iter()
                .map(|&c| classes[c].members.len() as u64)
                .sum()
        };
        let supply_base = net.head.len();
        let supply_buckets: Vec<Vec<usize>> = supply_buckets
            .into_iter()
            .map(|((node, role), members)| {
                net.edge(SOURCE, node, size(&self.supply, &members), role.cost());
                members
            })
            .collect();
        let demand_base = net.head.len();
        let demand_buckets: Vec<Vec<usize>> = demand_buckets
            .into_iter()
            .map(|((node, role), members)| {
                net.edge(node, SINK, size(&self.demand, &members), role.cost());
                members
            })
            .collect();

        // Per-spec hubs for moves between departments.
        let mut offers_anywhere: BTreeMap<Spec, usize> = BTreeMap::new();
        for (&(_, spec), &hub) in &offers {
            let any = *offers_anywhere
                .entry(spec)
                .or_insert_with(|| net.add_nodes(1));
            net.edge(hub, any, UNLIMITED, MOVE);
        }
        let mut wants_anywhere: BTreeMap<Spec, usize> = BTreeMap::new();
        for (&(_, need), &hub) in &wants {
            let any = *wants_anywhere
                .entry(need)
                .or_insert_with(|| net.add_nodes(1));
            net.edge(any, hub, UNLIMITED, ZERO);
        }
        let offered = |hubs: &mut dyn Iterator<Item = (Spec, usize)>| -> Vec<Hub> {
            hubs.map(|(spec, node)| (spec, node, prices.spec_level[&spec]))
                .collect()
        };
        let wanted = |hubs: &mut dyn Iterator<Item = (Spec, usize)>| -> Vec<Hub> {
            hubs.map(|(need, node)| (need, node, prices.need_level[&need]))
                .collect()
        };
        let offers_anywhere = offered(&mut offers_anywhere.into_iter());
        let wants_anywhere = wanted(&mut wants_anywhere.into_iter());
        connect_levels(&mut net, &offers_anywhere, &wants_anywhere, ZERO);
        let mut offers_by_department: BTreeMap<u32, Vec<(Spec, usize)>> = BTreeMap::new();
        for (&(department, spec), &hub) in &offers {
            offers_by_department
                .entry(department)
                .or_default()
                .push((spec, hub));
        }
        let mut wants_by_department: BTreeMap<u32, Vec<(Spec, usize)>> = BTreeMap::new();
        for (&(department, need), &hub) in &wants {
            wants_by_department
                .entry(department)
                .or_default()
                .push((need, hub));
        }
        let offers: BTreeMap<u32, Vec<Hub>> = offers_by_department
            .into_iter()
            .map(|(department, hubs)| (department, offered(&mut hubs.into_iter())))
            .collect();
        let wants: BTreeMap<u32, Vec<Hub>> = wants_by_department
            .into_iter()
            .map(|(department, hubs)| (department, wanted(&mut hubs.into_iter())))
            .collect();
        for (department, offered) in &offers {
            if let Some(wanted) = wants.get(department) {
                connect_levels(&mut net, offered, wanted, ZERO);
            }
        }

        // Devices kept apart bypass the hubs on one side, so that no path
        // leads from one to itself.
        for &(c, from) in &apart_supply {
            let class = &self.supply[c];
            let node = [(class.spec, from, prices.supply[c].1)];
            if let Some(wanted) = wants.get(&class.department) {
                connect_levels(&mut net, &node, wanted, ZERO);
            }
            connect_levels(&mut net, &node, &wants_anywhere, MOVE);
            for &(k, to) in &apart_demand {
                let other = &self.demand[k];
                if fits(class.spec, other.spec)
                    && prices.supply[c].1 == prices.demand[k].1
                    && !self.same_device(class.members[0], other.members[0])
                {
                    let cost = if class.department == other.department {
                        ZERO
                    } else {
                        MOVE
                    };
                    net.edge(from, to, UNLIMITED, cost);
                }
            }
        }
        for &(k, to) in &apart_demand {
            let class = &self.demand[k];
            let node = [(class.spec, to, prices.demand[k].1)];
            if let Some(offered) = offers.get(&class.department) {
                connect_levels(&mut net, offered, &node, ZERO);
            }
            connect_levels(&mut net, &offers_anywhere, &node, ZERO);
        }
        let buckets = Buckets {
            supply: supply_buckets,
            demand: demand_buckets,
            supply_base,
            demand_base,
        };
        (net, buckets)
    }

    /// Turns class flows into device matches, then undoes self-matches by
    /// swaps that keep the objective.
    fn expand(&self, buckets: &Buckets, flows: &[(usize, usize, u64)]) -> (Vec<Match>, Vec<u64>) {
        // Spare members, the first ones last, as they are taken first.
        let spares = |classes: &[Class], buckets: &[Vec<usize>]| -> Vec<Vec<usize>> {
            buckets
                .iter()
                .map(|bucket| {
                    bucket
                        .iter()
                        .flat_map(|&c| classes[c].members.iter().copied())
                        .rev()
                        .collect()
                })
                .collect()
        };
        let mut spare_donors = spares(&self.supply, &buckets.supply);
        let mut spare_recipients = spares(&self.demand, &buckets.demand);
        let mut pairs: Vec<Pair> = Vec::new();
        for &(supply, demand, amount) in flows {
            for _ in 0..amount {
                let (Some(donor), Some(recipient)) =
                    (spare_donors[supply].pop(), spare_recipients[demand].pop())
                else {
                    break;
                };
                pairs.push(Pair {
                    donor,
                    supply,
                    recipient,
                    demand,
                });
            }
        }

        // Matches by hub: devices of one hub meet the same needs (or are
        // met by the same donors) from the same department.
        let hub_of = |classes: &[Class], buckets: &[Vec<usize>]| {
            let mut ids: BTreeMap<(u32, Spec), usize> = BTreeMap::new();
            let hubs: Vec<usize> = buckets
                .iter()
                .map(|bucket| {
                    let class = &classes[bucket[0]];
                    let next = ids.len();
                    *ids.entry((class.department, class.spec)).or_insert(next)
                })
                .collect();
            (hubs, ids.len())
        };
        let (supply_hub, supply_hubs) = hub_of(&self.supply, &buckets.supply);
        let (demand_hub, demand_hubs) = hub_of(&self.demand, &buckets.demand);
        let mut by_supply_hub = vec![Vec::new(); supply_hubs];
        let mut by_demand_hub = vec![Vec::new(); demand_hubs];
        for (p, pair) in pairs.iter().enumerate() {
            by_supply_hub[supply_hub[pair.supply]].push(p);
            by_demand_hub[demand_hub[pair.demand]].push(p);
        }

        let mut stuck = Vec::new();
        for p in 0..pairs.len() {
            let Pair {
                donor,
                supply,
                recipient,
                demand,
            } = pairs[p];
            if !self.same_device(donor, recipient) {
                continue;
            }
            // Same donors, same recipients, same departments: swap donors.
            if let Some(&q) = by_supply_hub[supply_hub[supply]].iter().find(|&&q| {
                q != p
                    && !self.same_device(pairs[q].donor, recipient)
                    && !self.same_device(donor, pairs[q].recipient)
            }) {
                (pairs[p].donor, pairs[q].donor) = (pairs[q].donor, donor);
                (pairs[p].supply, pairs[q].supply) = (pairs[q].supply, supply);
                continue;
            }
            if let Some(&q) = by_demand_hub[demand_hub[demand]].iter().find(|&&q| {
                q != p
                    && !self.same_device(pairs[q].donor, recipient)
                    && !self.same_device(donor, pairs[q].recipient)
            }) {
                (pairs[p].recipient, pairs[q].recipient) = (pairs[q].recipient, recipient);
                (pairs[p].demand, pairs[q].demand) = (pairs[q].demand, demand);
                continue;
            }
            // A spare device of the same hub and role: the same age (or
            // avoided grams) where there are spares at all.
            let spare = &mut spare_donors[supply];
            if let Some(i) = spare.iter().position(|&d| !self.same_device(d, recipient)) {
                pairs[p].donor = std::mem::replace(&mut spare[i], donor);
                continue;
            }
            let spare = &mut spare_recipients[demand];
            if let Some(i) = spare.iter().position(|&r| !self.same_device(donor, r)) {
                pairs[p].recipient = std::mem::replace(&mut spare[i], recipient);
                continue;
            }
            stuck.push(p);
        }
        // Then any match whose donor can trade places with this one: the
        // same donors and recipients, so the same carbon and age; only
        // taken if it adds no move. Hub lists are stale from here on.
        let moves = |d: usize, r: usize| {
            usize::from(self.donors[d].department != self.recipients[r].department)
        };
        let mut unresolved = Vec::new();
        for p in stuck {
            let Pair {
                donor, recipient, ..
            } = pairs[p];
            let trade = (0..pairs.len()).find(|&q| {
                let (d, r) = (pairs[q].donor, pairs[q].recipient);
                q != p
                    && self.fits(d, recipient)
                    && self.fits(donor, r)
                    && !self.same_device(d, recipient)
                    && !self.same_device(donor, r)
                    && moves(d, recipient) + moves(donor, r)
                        <= moves(donor, recipient) + moves(d, r)
            });
            if let Some(q) = trade {
                (pairs[p].donor, pairs[q].donor) = (pairs[q].donor, donor);
            } else {
                unresolved.push(self.donors[donor].device);
            }
        }
        let matches = pairs
            .into_iter()
            .filter(|pair| !self.same_device(pair.donor, pair.recipient))
            .map(|pair| Match {
                donor: pair.donor,
                recipient: pair.recipient,
            })
            .collect();
        (matches, unresolved)
    }
}

/// A lexicographic cost: avoided carbon (negative), then donor age, then
/// moves between departments. Lexicographic order on integer triples is a
/// totally ordered group, which is all Dijkstra and potentials need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cost {
    carbon: i128,
    age: i64,
    moves: i64,
}

const ZERO: Cost = Cost {
    carbon: 0,
    age: 0,
    moves: 0,
};
const MOVE: Cost = Cost { moves: 1, ..ZERO };
/// A unit of a required class: first of all, take them all.
const REQUIRED: Cost = Cost { carbon: -1, ..ZERO };
const UNREACHED: Cost = Cost {
    carbon: i128::MAX,
    age: i64::MAX,
    moves: i64::MAX,
};
/// Capacity of hub edges: more than any class can send.
const UNLIMITED: u64 = u64::MAX >> 2;

impl Cost {
    fn age(years: u64) -> Self {
        Self {
            age: i64::try_from(years).unwrap_or(i64::MAX),
            ..ZERO
        }
    }

    fn avoided(grams: u64) -> Self {
        Self {
            carbon: -i128::from(grams),
            ..ZERO
        }
    }
}

impl Add for Cost {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            carbon: self.carbon + other.carbon,
            age: self.age + other.age,
            moves: self.moves + other.moves,
        }
    }
}

impl Sub for Cost {
    type Output = Self;

    fn sub(self, other: Self) -> Self {
        Self {
            carbon: self.carbon - other.carbon,
            age: self.age - other.age,
            moves: self.moves - other.moves,
        }
    }
}

/// A flow network; edge `e ^ 1` is the reverse of edge `e`.
#[derive(Default)]
struct Network {
    nodes: usize,
    head: Vec<usize>,
    capacity: Vec<u64>,
    cost: Vec<Cost>,
    /// Out-edges of node `v`: `out[first[v]..first[v + 1]]`.
    first: Vec<usize>,
    out: Vec<usize>,
    potential: Vec<Cost>,
    /// Nodes the source reaches in the network as built.
    reached: Vec<bool>,
}

impl Network {
    /// Adds `count` nodes and returns the first one.
    fn add_nodes(&mut self, count: usize) -> usize {
        self.nodes += count;
        self.nodes - count
    }

    /// Adds an edge and returns its id.
    fn edge(&mut self, from: usize, to: usize, capacity: u64, cost: Cost) -> usize {
        self.head.extend([to, from]);
        self.capacity.extend([capacity, 0]);
        self.cost.extend([cost, ZERO - cost]);
        self.head.len() - 2
    }

    /// Cost of an edge under the current potentials.
    fn reduced(&self, e: usize) -> Cost {
        self.cost[e] + self.potential[self.tail(e)] - self.potential[self.head[e]]
    }

    fn tail(&self, e: usize) -> usize {
        self.head[e ^ 1]
    }

    fn out_edges(&self, v: usize) -> &[usize] {
        &self.out[self.first[v]..self.first[v + 1]]
    }

    /// Lets every source reach, at `cost`, exactly the sinks it fits.
    fn connect(&mut self, sources: &[(Spec, usize)], sinks: &[(Spec, usize)], cost: Cost) {
        if sources.is_empty() || sinks.is_empty() {
            return;
        }
        let ram = distinct(sinks.iter().map(|s| s.0.0));
        let cores = distinct(sinks.iter().map(|s| s.0.1));
        let storage = distinct(sinks.iter().map(|s| s.0.2));
        let cells = ram
            .len()
            .saturating_mul(cores.len())
            .saturating_mul(storage.len());
        // A grid costs a node and about three edges per cell; pairs cost an
        // edge per fit, counted unless there are far too many to list.
        let grid = cells
            .saturating_mul(4)
            .saturating_add(sources.len() + sinks.len());
        let candidates = sources.len().saturating_mul(sinks.len());
        if candidates <= grid.saturating_mul(8) {
            let pairs: Vec<(usize, usize)> = sources
                .iter()
                .flat_map(|&(have, from)| {
                    sinks
                        .iter()
                        .filter(move |&&(need, _)| fits(have, need))
                        .map(move |&(_, to)| (from, to))
                })
                .collect();
            if pairs.len() <= grid {
                for (from, to) in pairs {
                    self.edge(from, to, UNLIMITED, cost);
                }
                return;
            }
        }
        // A cell per combination of need values; flow steps down one value
        // in one dimension at a time, so it reaches every cell below.
        let base = self.add_nodes(cells);
        let cell = |r: usize, c: usize, s: usize| base + (r * cores.len() + c) * storage.len() + s;
        for r in 0..ram.len() {
            for c in 0..cores.len() {
                for s in 0..storage.len() {
                    if r > 0 {
                        self.edge(cell(r, c, s), cell(r - 1, c, s), UNLIMITED, ZERO);
                    }
                    if c > 0 {
                        self.edge(cell(r, c, s), cell(r, c - 1, s), UNLIMITED, ZERO);
                    }
                    if s > 0 {
                        self.edge(cell(r, c, s), cell(r, c, s - 1), UNLIMITED, ZERO);
                    }
                }
            }
        }
        for &(have, from) in sources {
            let (Some(r), Some(c), Some(s)) = (
                at_most(&ram, have.0),
                at_most(&cores, have.1),
                at_most(&storage, have.2),
            ) else {
                continue;
            };
            self.edge(from, cell(r, c, s), UNLIMITED, cost);
        }
        for &(need, to) in sinks {
            let (Some(r), Some(c), Some(s)) = (
                at_most(&ram, need.0),
                at_most(&cores, need.1),
                at_most(&storage, need.2),
            ) else {
                continue;
            };
            self.edge(cell(r, c, s), to, UNLIMITED, ZERO);
        }
    }

    /// Builds the out-edge lists, in the order edges were added.
    fn index(&mut self) {
        let mut first = vec![0; self.nodes + 1];
        for e in 0..self.head.len() {
            first[self.tail(e) + 1] += 1;
        }
        for v in 0..self.nodes {
            first[v + 1] += first[v];
        }
        let mut next = first.clone();
        let mut out = vec![0; self.head.len()];
        for e in 0..self.head.len() {
            let tail = self.tail(e);
            out[next[tail]] = e;
            next[tail] += 1;
        }
        self.first = first;
        self.out = out;
    }

    /// The cheapest flow for `goal`, by successive shortest paths.
    fn min_cost_flow(&mut self, source: usize, sink: usize, goal: Goal) {
        self.index();
        self.initial_potentials(source);
        let mut work = Work {
            distance: vec![UNREACHED; self.nodes],
            heap: BinaryHeap::new(),
            tight: Vec::new(),
            excess: Vec::new(),
            label: Vec::new(),
            cursor: vec![0; self.nodes],
            active: VecDeque::new(),
            queued: Vec::new(),
            bfs: VecDeque::new(),
        };
        // The source keeps potential zero, so the sink's potential is the
        // true cost of the next unit of flow.
        while self.shortest_paths(source, sink, &mut work) {
            if goal == Goal::Gain && self.potential[sink] >= ZERO {
                break;
            }
            self.push_relabel(source, sink, &mut work);
        }
    }

    /// Distances from the source over the edges as built, which form a
    /// DAG: potentials under which no reduced cost is negative.
    fn initial_potentials(&mut self, source: usize) {
        let mut indegree = vec![0_usize; self.nodes];
        for e in (0..self.head.len()).step_by(2) {
            indegree[self.head[e]] += 1;
        }
        let mut order: Vec<usize> = (0..self.nodes).filter(|&v| indegree[v] == 0).collect();
        let mut distance = vec![UNREACHED; self.nodes];
        distance[source] = ZERO;
        let mut next = 0;
        while let Some(&u) = order.get(next) {
            next += 1;
            for &e in self.out_edges(u) {
                if e % 2 == 1 {
                    continue;
                }
                let v = self.head[e];
                if distance[u] != UNREACHED {
                    distance[v] = distance[v].min(distance[u] + self.cost[e]);
                }
                indegree[v] -= 1;
                if indegree[v] == 0 {
                    order.push(v);
                }
            }
        }
        debug_assert_eq!(order.len(), self.nodes, "the network has a cycle");
        // Nodes the source cannot reach are never visited: any value does.
        self.reached = distance.iter().map(|&d| d != UNREACHED).collect();
        self.potential = distance
            .into_iter()
            .map(|d| if d == UNREACHED { ZERO } else { d })
            .collect();
    }

    /// Dijkstra on reduced costs, then potentials raised so that shortest
    /// paths to the sink have zero reduced cost. False if the sink is cut off.
    fn shortest_paths(&mut self, source: usize, sink: usize, work: &mut Work) -> bool {
        let Work { distance, heap, .. } = work;
        distance.fill(UNREACHED);
        heap.clear();
        distance[source] = ZERO;
        heap.push(Reverse((ZERO, source)));
        while let Some(Reverse((d, u))) = heap.pop() {
            if d > distance[u] {
                continue;
            }
            // Nodes not settled by now are at least as far as the sink,
            // which is all the potential update below needs.
            if u == sink {
                break;
            }
            let base = d + self.potential[u];
            for &e in self.out_edges(u) {
                if self.capacity[e] == 0 {
                    continue;
                }
                let v = self.head[e];
                let candidate = base + self.cost[e] - self.potential[v];
                if candidate < distance[v] {
                    distance[v] = candidate;
                    heap.push(Reverse((candidate, v)));
                }
            }
        }
        let reach = distance[sink];
        if reach == UNREACHED {
            return false;
        }
        for (potential, &d) in self.potential.iter_mut().zip(distance.iter()) {
            *potential = *potential + d.min(reach);
        }
        true
    }

    /// A maximum flow over the edges of zero reduced cost, by push-relabel
    /// (FIFO, with global relabelling): its work does not grow with the
    /// number of distinct path lengths, unlike augmenting paths.
    fn push_relabel(&mut self, source: usize, sink: usize, work: &mut Work) {
        let n = self.nodes;
        let edges = self.head.len();
        // Pushing never changes a reduced cost, so which edges are tight is
        // fixed for the phase; an edge and its reverse are tight together.
        work.tight.clear();
        work.tight
            .extend((0..edges).map(|e| e % 2 == 0 && self.reduced(e) == ZERO));
        for e in (0..edges).step_by(2) {
            work.tight[e + 1] = work.tight[e];
        }
        work.excess.clear();
        work.excess.resize(n, 0);
        for i in self.first[source]..self.first[source + 1] {
            let e = self.out[i];
            if work.tight[e] && self.capacity[e] > 0 {
                let amount = self.capacity[e];
                self.capacity[e] = 0;
                self.capacity[e ^ 1] += amount;
                work.excess[self.head[e]] += amount;
            }
        }
        self.global_relabel(source, sink, work);
        let mut relabels = 0;
        while let Some(u) = work.active.pop_front() {
            work.queued[u] = false;
            if u == source || u == sink {
                continue;
            }
            while work.excess[u] > 0 && work.label[u] < 2 * n {
                let end = self.first[u + 1];
                while work.cursor[u] < end {
                    let e = self.out[work.cursor[u]];
                    let v = self.head[e];
                    if work.tight[e] && self.capacity[e] > 0 && work.label[u] == work.label[v] + 1 {
                        let amount = work.excess[u].min(self.capacity[e]);
                        self.capacity[e] -= amount;
                        self.capacity[e ^ 1] += amount;
                        work.excess[u] -= amount;
                        work.excess[v] += amount;
                        if !work.queued[v] && v != source && v != sink {
                            work.queued[v] = true;
                            work.active.push_back(v);
                        }
                        if work.excess[u] == 0 {
                            break;
                        }
                    }
                    work.cursor[u] += 1;
                }
                if work.excess[u] == 0 {
                    break;
                }
                // Relabel: one above the lowest neighbour it can push to.
                let mut lowest = 2 * n;
                for &e in self.out_edges(u) {
                    if work.tight[e] && self.capacity[e] > 0 {
                        lowest = lowest.min(work.label[self.head[e]] + 1);
                    }
                }
                work.label[u] = lowest;
                work.cursor[u] = self.first[u];
                relabels += 1;
                if relabels >= n {
                    relabels = 0;
                    self.global_relabel(source, sink, work);
                    break;
                }
            }
        }
    }

    /// Exact labels: distance to the sink over tight residual edges, or
    /// else `n` + distance to the source; then every node with excess is
    /// queued afresh.
    fn global_relabel(&self, source: usize, sink: usize, work: &mut Work) {
        let n = self.nodes;
        work.label.clear();
        work.label.resize(n, 2 * n);
        // Set first, so that no path to the sink goes through the source.
        work.label[source] = n;
        work.label[sink] = 0;
        for root in [sink, source] {
            work.bfs.clear();
            work.bfs.push_back(root);
            while let Some(v) = work.bfs.pop_front() {
                for &e in self.out_edges(v) {
                    // `e ^ 1` goes from `u` into `v`.
                    let u = self.head[e];
                    if work.label[u] == 2 * n && work.tight[e] && self.capacity[e ^ 1] > 0 {
                        work.label[u] = work.label[v] + 1;
                        work.bfs.push_back(u);
                    }
                }
            }
        }
        work.cursor.copy_from_slice(&self.first[..n]);
        work.active.clear();
        work.queued.clear();
        work.queued.resize(n, false);
        for v in 0..n {
            if work.excess[v] > 0 && v != source && v != sink {
                work.queued[v] = true;
                work.active.push_back(v);
            }
        }
    }

    /// Splits the flow into source-to-sink paths, as (first edge, last
    /// edge, amount), deterministically.
    fn decompose(&self, source: usize, sink: usize) -> Vec<(usize, usize, u64)> {
        // The flow on a forward edge is what its reverse can send back.
        let mut left: Vec<u64> = (0..self.head.len())
            .map(|e| if e % 2 == 0 { self.capacity[e ^ 1] } else { 0 })
            .collect();
        let mut cursor = self.first.clone();
        let mut flows = Vec::new();
        let mut path = Vec::new();
        for &start in self.out_edges(source) {
            while left[start] > 0 {
                path.clear();
                path.push(start);
                let mut u = self.head[start];
                while u != sink {
                    // Flow is conserved and the network has no cycle, so an
                    // edge with flow left always leads on to the sink.
                    let end = self.first[u + 1];
                    while cursor[u] < end && left[self.out[cursor[u]]] == 0 {
                        cursor[u] += 1;
                    }
                    let Some(&e) = self.out.get(cursor[u]).filter(|_| cursor[u] < end) else {
                        break;
                    };
                    path.push(e);
                    u = self.head[e];
                }
                let amount = path.iter().map(|&e| left[e]).min().unwrap_or(0);
                for &e in &path {
                    left[e] -= amount;
                }
                if u == sink && path.len() >= 2 {
                    flows.push((start, path[path.len() - 1], amount));
                }
            }
        }
        flows
    }
}

/// Buffers reused across phases.
struct Work {
    distance: Vec<Cost>,
    heap: BinaryHeap<Reverse<(Cost, usize)>>,
    /// Per edge: zero reduced cost in this phase.
    tight: Vec<bool>,
    excess: Vec<u64>,
    label: Vec<usize>,
    /// Per node: the next out-edge to try.
    cursor: Vec<usize>,
    active: VecDeque<usize>,
    queued: Vec<bool>,
    bfs: VecDeque<usize>,
}

/// When successive shortest paths stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Goal {
    /// When one more unit would not lower the cost.
    Gain,
    /// When no more flow can pass.
    MaxFlow,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const GB: u64 = 1024;

    fn donor(device: u64, ram_gb: u64, age_years: u32, department: u32) -> Donor {
        Donor {
            device,
            category: 0,
            ram_mb: ram_gb * GB,
            cores: 4,
            storage_gb: 256,
            age_years,
            department,
        }
    }

    fn recipient(device: Option<u64>, ram_gb: u64, department: u32, avoided_g: u64) -> Recipient {
        Recipient {
            device,
            category: 0,
            ram_mb: ram_gb * GB,
            cores: 4,
            storage_gb: 256,
            department,
            avoided_g,
        }
    }

    /// Checks every constraint and returns (avoided, age, moves).
    fn objective(
        donors: &[Donor],
        recipients: &[Recipient],
        matches: &[Match],
    ) -> (u128, u64, u64) {
        let mut given = vec![false; donors.len()];
        let mut served = vec![false; recipients.len()];
        let (mut avoided, mut age, mut moves) = (0, 0, 0);
        for m in matches {
            assert!(!given[m.donor], "donor {} used twice", m.donor);
            assert!(!served[m.recipient], "recipient {} used twice", m.recipient);
            given[m.donor] = true;
            served[m.recipient] = true;
            let (d, r) = (&donors[m.donor], &recipients[m.recipient]);
            assert_eq!(d.category, r.category, "{m:?}");
            assert!(
                d.ram_mb >= r.ram_mb && d.cores >= r.cores && d.storage_gb >= r.storage_gb,
                "{m:?} does not fit"
            );
            assert_ne!(r.device, Some(d.device), "{m:?} gives a device itself");
            avoided += u128::from(r.avoided_g);
            age += u64::from(d.age_years);
            moves += u64::from(d.department != r.department);
        }
        (avoided, age, moves)
    }

    /// Better for the objective: more avoided, then younger, then fewer moves.
    fn better(a: (u128, u64, u64), b: (u128, u64, u64)) -> bool {
        (Reverse(a.0), a.1, a.2) < (Reverse(b.0), b.1, b.2)
    }

    fn brute_force(donors: &[Donor], recipients: &[Recipient]) -> (u128, u64, u64) {
        fn search(
            donors: &[Donor],
            recipients: &[Recipient],
            used: &mut [bool],
            current: (u128, u64, u64),
            best: &mut (u128, u64, u64),
        ) {
            let Some((r, rest)) = recipients.split_first() else {
                if better(current, *best) {
                    *best = current;
                }
                return;
            };
            search(donors, rest, used, current, best);
            for (i, d) in donors.iter().enumerate() {
                if used[i]
                    || d.category != r.category
                    || d.ram_mb < r.ram_mb
                    || d.cores < r.cores
                    || d.storage_gb < r.storage_gb
                    || r.device == Some(d.device)
                {
                    continue;
                }
                used[i] = true;
                let next = (
                    current.0 + u128::from(r.avoided_g),
                    current.1 + u64::from(d.age_years),
                    current.2 + u64::from(d.department != r.department),
                );
                search(donors, rest, used, next, best);
                used[i] = false;
            }
        }
        let mut best = (0, 0, 0);
        search(
            donors,
            recipients,
            &mut vec![false; donors.len()],
            (0, 0, 0),
            &mut best,
        );
        best
    }

    fn pairs(matches: &[Match]) -> Vec<(usize, usize)> {
        matches.iter().map(|m| (m.donor, m.recipient)).collect()
    }

    #[test]
    fn a_request_for_16_gb_is_not_given_an_8_gb_donor() {
        let donors = [donor(1, 8, 1, 0)];
        let recipients = [recipient(None, 16, 0, 300_000)];
        assert!(assign(&donors, &recipients).is_empty());
        let donors = [donor(1, 8, 1, 0), donor(2, 16, 5, 0)];
        assert_eq!(pairs(&assign(&donors, &recipients)), [(1, 0)]);
    }

    #[test]
    fn only_the_same_category_fits() {
        let tablet = Donor {
            category: 2,
            ..donor(1, 32, 0, 0)
        };
        let recipients = [recipient(None, 8, 0, 300_000)];
        assert!(assign(&[tablet], &recipients).is_empty());
        assert_eq!(
            pairs(&assign(&[tablet, donor(2, 8, 4, 1)], &recipients)),
            [(1, 0)]
        );
    }

    #[test]
    fn a_device_is_never_matched_with_itself() {
        let donors = [donor(7, 16, 1, 0)];
        let recipients = [recipient(Some(7), 8, 0, 300_000)];
        assert!(assign(&donors, &recipients).is_empty());
        // With another device of the same kind, the two are exchanged.
        let donors = [donor(7, 16, 1, 0), donor(8, 16, 1, 0)];
        let recipients = [
            recipient(Some(7), 8, 0, 300_000),
            recipient(Some(8), 8, 0, 300_000),
        ];
        assert_eq!(pairs(&assign(&donors, &recipients)), [(1, 0), (0, 1)]);
    }

    #[test]
    fn a_device_alone_in_its_classes_goes_elsewhere_rather_than_to_itself() {
        // Giving 7 itself and 8 to 9 would move nothing between departments;
        // the best real assignment moves both.
        let donors = [donor(7, 16, 1, 0), donor(8, 32, 2, 1)];
        let recipients = [
            recipient(Some(7), 16, 0, 300_000),
            recipient(Some(9), 8, 1, 300_000),
        ];
        let matches = assign(&donors, &recipients);
        assert_eq!(pairs(&matches), [(1, 0), (0, 1)]);
        assert_eq!(objective(&donors, &recipients, &matches), (600_000, 3, 2));
    }

    #[test]
    fn the_recipient_avoiding_more_carbon_wins() {
        let donors = [donor(1, 16, 1, 0)];
        let recipients = [
            recipient(None, 8, 0, 200_000),
            recipient(None, 8, 1, 300_000),
        ];
        assert_eq!(pairs(&assign(&donors, &recipients)), [(0, 1)]);
    }

    #[test]
    fn the_younger_of_two_fitting_donors_wins() {
        let donors = [donor(1, 16, 4, 0), donor(2, 16, 2, 1)];
        let recipients = [recipient(None, 8, 0, 300_000)];
        assert_eq!(pairs(&assign(&donors, &recipients)), [(1, 0)]);
    }

    #[test]
    fn between_equally_young_donors_the_same_department_wins() {
        let donors = [donor(1, 16, 3, 1), donor(2, 16, 3, 0), donor(3, 16, 3, 2)];
        let recipients = [recipient(None, 8, 0, 300_000)];
        assert_eq!(pairs(&assign(&donors, &recipients)), [(1, 0)]);
    }

    #[test]
    fn nothing_to_avoid_means_no_match() {
        let donors = [donor(1, 16, 0, 0)];
        assert!(assign(&donors, &[recipient(None, 8, 0, 0)]).is_empty());
        assert!(assign(&[], &[recipient(None, 8, 0, 1)]).is_empty());
        assert!(assign(&donors, &[]).is_empty());
    }

    fn small_donor() -> impl Strategy<Value = (u8, u64, u32, u64, u32, u32)> {
        (
            0..2_u8,
            prop::sample::select(vec![4_u64, 8, 16]),
            prop::sample::select(vec![2_u32, 4, 8]),
            prop::sample::select(vec![128_u64, 256]),
            0..3_u32,
            0..3_u32,
        )
    }

    fn small_recipient() -> impl Strategy<Value = ((u8, u64, u32, u64, u32), u64, Option<u64>)> {
        (
            (
                0..2_u8,
                prop::sample::select(vec![4_u64, 6, 8, 16, 32]),
                prop::sample::select(vec![1_u32, 4, 8]),
                prop::sample::select(vec![100_u64, 128, 256]),
                0..3_u32,
            ),
            prop::sample::select(vec![0_u64, 100, 200, 300]),
            proptest::option::weighted(0.7, 0..8_u64),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn assign_equals_brute_force_on_small_instances(
            donors in prop::collection::vec(small_donor(), 0..=6),
            recipients in prop::collection::vec(small_recipient(), 0..=6),
        ) {
            let donors: Vec<Donor> = donors
                .into_iter()
                .zip(0..)
                .map(|((category, ram_gb, cores, storage_gb, age_years, department), device)| Donor {
                    device,
                    category,
                    ram_mb: ram_gb * GB,
                    cores,
                    storage_gb,
                    age_years,
                    department,
                })
                .collect();
            // Devices that are donors too (0..6) are frequent; each at most once.
            let mut seen = HashSet::new();
            let recipients: Vec<Recipient> = recipients
                .into_iter()
                .map(|((category, ram_gb, cores, storage_gb, department), avoided_g, device)| Recipient {
                    device: device.filter(|&d| seen.insert(d)),
                    category,
                    ram_mb: ram_gb * GB,
                    cores,
                    storage_gb,
                    department,
                    avoided_g,
                })
                .collect();
            let matches = assign(&donors, &recipients);
            prop_assert_eq!(
                objective(&donors, &recipients, &matches),
                brute_force(&donors, &recipients)
            );
        }
    }

    /// The objective of an optimal assignment found by a plain flow with one
    /// edge per fitting pair: no classes, hubs, grids or prices.
    fn plain_flow(donors: &[Donor], recipients: &[Recipient]) -> (u128, u64, u64) {
        let mut net = Network::default();
        let first_recipient = 2 + donors.len();
        net.add_nodes(first_recipient + recipients.len());
        for (i, d) in donors.iter().enumerate() {
            net.edge(SOURCE, 2 + i, 1, Cost::age(u64::from(d.age_years)));
        }
        for (j, r) in recipients.iter().enumerate() {
            net.edge(first_recipient + j, SINK, 1, Cost::avoided(r.avoided_g));
        }
        let mut edges = Vec::new();
        for (i, d) in donors.iter().enumerate() {
            for (j, r) in recipients.iter().enumerate() {
                if d.category == r.category
                    && fits(
                        (d.ram_mb, d.cores, d.storage_gb),
                        (r.ram_mb, r.cores, r.storage_gb),
                    )
                    && r.device != Some(d.device)
                {
                    let cost = if d.department == r.department {
                        ZERO
                    } else {
                        MOVE
                    };
                    edges.push((net.edge(2 + i, first_recipient + j, 1, cost), i, j));
                }
            }
        }
        net.min_cost_flow(SOURCE, SINK, Goal::Gain);
        let matches: Vec<Match> = edges
            .into_iter()
            .filter(|&(e, _, _)| net.capacity[e] == 0)
            .map(|(_, donor, recipient)| Match { donor, recipient })
            .collect();
        objective(donors, recipients, &matches)
    }

    fn medium_donor() -> impl Strategy<Value = (u64, u32, u64, u32, u32)> {
        (
            prop::sample::select(vec![4_u64, 8, 12, 16, 32]),
            prop::sample::select(vec![2_u32, 4, 6, 8]),
            prop::sample::select(vec![128_u64, 256, 512, 1024]),
            0..5_u32,
            0..4_u32,
        )
    }

    fn medium_recipient() -> impl Strategy<Value = ((u64, u32, u64, u32), u64, Option<u64>)> {
        (
            (
                prop::sample::select(vec![4_u64, 8, 12, 16, 24]),
                prop::sample::select(vec![2_u32, 4, 6, 8]),
                prop::sample::select(vec![128_u64, 200, 256, 512, 1024]),
                0..4_u32,
            ),
            prop::sample::select(vec![0_u64, 150, 200, 300]),
            proptest::option::weighted(0.5, 0..80_u64),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Large enough for grids, price levels and hubs shared by many
        /// classes; one category, so every pair is in play.
        #[test]
        fn assign_equals_a_plain_flow_on_medium_instances(
            donors in prop::collection::vec(medium_donor(), 10..=70),
            recipients in prop::collection::vec(medium_recipient(), 10..=90),
        ) {
            let donors: Vec<Donor> = donors
                .into_iter()
                .zip(0..)
                .map(|((ram_gb, cores, storage_gb, age_years, department), device)| Donor {
                    device,
                    category: 0,
                    ram_mb: ram_gb * GB,
                    cores,
                    storage_gb,
                    age_years,
                    department,
                })
                .collect();
            let mut seen = HashSet::new();
            let recipients: Vec<Recipient> = recipients
                .into_iter()
                .map(|((ram_gb, cores, storage_gb, department), avoided_g, device)| Recipient {
                    device: device.filter(|&d| seen.insert(d)),
                    category: 0,
                    ram_mb: ram_gb * GB,
                    cores,
                    storage_gb,
                    department,
                    avoided_g,
                })
                .collect();
            let matches = assign(&donors, &recipients);
            prop_assert_eq!(
                objective(&donors, &recipients, &matches),
                plain_flow(&donors, &recipients)
            );
        }
    }

    #[test]
    fn a_fleet_sized_instance_is_assigned_consistently() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: u64| {
            // xorshift64: deterministic and dependency-free.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let pick = |values: &[u64], i: u64| values[usize::try_from(i).unwrap()];
        let rams = [4096, 8192, 15_872, 16_384, 32_768];
        let cores = [2, 4, 6, 8, 12];
        let storages = [128, 256, 476, 512, 1024];
        let base_avoided = [250_000, 180_000, 120_000, 60_000];
        let donors: Vec<Donor> = (0..20_000)
            .map(|device| Donor {
                device,
                category: u8::try_from(next(4)).unwrap(),
                ram_mb: pick(&rams, next(5)),
                cores: u32::try_from(pick(&cores, next(5))).unwrap(),
                storage_gb: pick(&storages, next(5)),
                age_years: u32::try_from(next(9)).unwrap(),
                department: u32::try_from(next(60)).unwrap(),
            })
            .collect();
        let recipients: Vec<Recipient> = (0..30_000)
            .map(|i| {
                let category = next(4);
                Recipient {
                    // Every fifth of the first 20,000 is also a donor.
                    device: if i < 20_000 && i % 5 == 0 {
                        Some(i)
                    } else if next(2) == 0 {
                        Some(100_000 + i)
                    } else {
                        None
                    },
                    category: u8::try_from(category).unwrap(),
                    ram_mb: pick(&rams, next(5)),
                    cores: u32::try_from(pick(&cores, next(4))).unwrap(),
                    storage_gb: pick(&storages, next(4)),
                    department: u32::try_from(next(60)).unwrap(),
                    avoided_g: pick(&base_avoided, category) + 10_000 * next(3),
                }
            })
            .collect();
        let matches = assign(&donors, &recipients);
        let (avoided, _, _) = objective(&donors, &recipients, &matches);
        assert!(avoided > 0);
        assert_eq!(assign(&donors, &recipients), matches, "not deterministic");

        // Maximal at least: no recipient left that a spare donor fits.
        let given: HashSet<usize> = matches.iter().map(|m| m.donor).collect();
        let served: HashSet<usize> = matches.iter().map(|m| m.recipient).collect();
        // Per kind of spare donor: one of its devices, and how many.
        let mut spare: BTreeMap<(u8, Spec), (u64, usize)> = BTreeMap::new();
        for d in (0..donors.len())
            .filter(|i| !given.contains(i))
            .map(|i| &donors[i])
        {
            spare
                .entry((d.category, (d.ram_mb, d.cores, d.storage_gb)))
                .or_insert((d.device, 0))
                .1 += 1;
        }
        for (i, r) in recipients.iter().enumerate() {
            if served.contains(&i) || r.avoided_g == 0 {
                continue;
            }
            let need = (r.ram_mb, r.cores, r.storage_gb);
            assert!(
                !spare.iter().any(|(&(category, have), &(device, count))| {
                    category == r.category
                        && fits(have, need)
                        && (count > 1 || r.device != Some(device))
                }),
                "recipient {i} could have been served"
            );
        }
    }
}
