//! Compare lanes: up to four runs on the same prompt, seed and model(s), each
//! with its own strategy and settings. Lane 0 is the page's own settings;
//! lanes 1 to 3 are [`Settings::lanes`], each in the URL as `laneN=` holding
//! its own settings in the same `key=value` form (percent-encoded).

use super::{parse_query, Settings};

/// Most lanes a comparison has, lane 0 included.
pub const MAX_LANES: usize = 4;

/// The settings every lane shares: lane 0's (the page's) are used. A lane's
/// own settings are every other key.
pub const SHARED_KEYS: [&str; 10] = [
    "model",
    "second",
    "hub",
    "device",
    "server",
    "prompt",
    "seed",
    "max_new_tokens",
    "bench",
    "force",
];

/// The URL key of lane `i` (1 to 3).
pub fn lane_key(i: usize) -> String {
    format!("lane{i}")
}

/// The lane that `key` names (`lane1` → 1), for lanes 1 to 3.
pub fn lane_of_key(key: &str) -> Option<usize> {
    let i: usize = key.strip_prefix("lane")?.parse().ok()?;
    (1..MAX_LANES).contains(&i).then_some(i)
}

impl Settings {
    /// These settings as a lane keeps them: its own settings, the shared
    /// ones at their defaults (and no lanes of its own).
    pub fn per_lane(&self) -> Settings {
        let d = Settings::default();
        Settings {
            model: d.model,
            second: d.second,
            hub: d.hub,
            device: d.device,
            server: d.server,
            prompt: d.prompt,
            seed: d.seed,
            max_new_tokens: d.max_new_tokens,
            bench: d.bench,
            forced: d.forced,
            lanes: d.lanes,
            ..self.clone()
        }
    }

    /// How many lanes run on Generate (1 without a comparison).
    pub fn lane_count(&self) -> usize {
        1 + self.lanes.len()
    }

    /// The settings lane `i` runs with: lane 0 is these settings, lane `i`
    /// its own with the shared ones of these.
    pub fn lane(&self, i: usize) -> Settings {
        let Some(own) = i.checked_sub(1).and_then(|i| self.lanes.get(i)) else {
            return self.clone();
        };
        Settings {
            model: self.model.clone(),
            second: self.second.clone(),
            hub: self.hub.clone(),
            device: self.device,
            server: self.server.clone(),
            prompt: self.prompt.clone(),
            seed: self.seed,
            max_new_tokens: self.max_new_tokens,
            bench: false,
            forced: Vec::new(),
            lanes: Vec::new(),
            ..own.clone()
        }
    }

    /// A lane's own settings in `key=value` form (without `?`): what
    /// `laneN=` holds.
    pub fn lane_query(&self) -> String {
        let own: Vec<(String, String)> = parse_query(&self.per_lane().to_query())
            .into_iter()
            .filter(|(k, _)| !SHARED_KEYS.contains(&k.as_str()))
            .collect();
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(own)
            .finish()
    }

    /// Lane `i`'s (1 to 3) own settings from `laneN=`'s value; the lanes
    /// before it must be there.
    pub(super) fn set_lane(&mut self, i: usize, value: &str) -> Result<(), String> {
        if i - 1 > self.lanes.len() {
            return Err(format!("comes after lane{}, which is missing", i - 1));
        }
        let lane = parse_lane(value)?;
        match self.lanes.get_mut(i - 1) {
            Some(l) => *l = lane,
            None => self.lanes.push(lane),
        }
        Ok(())
    }
}

/// A lane's own settings from their `key=value` form (a shared key, or one
/// that cannot be used, is refused with what was wrong).
pub fn parse_lane(value: &str) -> Result<Settings, String> {
    let mut lane = Settings::default();
    for (key, value) in parse_query(value) {
        if SHARED_KEYS.contains(&key.as_str()) || lane_of_key(&key).is_some() {
            return Err(format!(
                "{key} is shared by every lane: set it on the page, not in a lane"
            ));
        }
        lane.set(&key, &value)
            .map_err(|why| format!("{key}={value}: {why}"))?;
    }
    Ok(lane)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Strategy;

    #[test]
    fn lanes_go_into_the_url_as_their_own_settings_and_back() {
        let query = "?model=tiny&strategy=sample&temperature=0.7&seed=5\
                     &lane1=strategy%3Dsample%26temperature%3D1.3&lane2=strategy%3Dgreedy";
        let (settings, problems) = Settings::from_query(query);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.lane_count(), 3);
        let lane1 = settings.lane(1);
        assert_eq!(
            (lane1.strategy, lane1.temperature, lane1.seed),
            (Strategy::Sample, 1.3, 5)
        );
        assert_eq!(lane1.model, "tiny");
        assert_eq!(settings.lane(2).strategy, Strategy::Greedy);
        assert_eq!(settings.lane(0), settings);
        assert_eq!(
            settings.lanes[0].lane_query(),
            "strategy=sample&temperature=1.3"
        );
        let written = settings.to_query();
        assert_eq!(Settings::from_query(&written), (settings, Vec::new()));
    }

    #[test]
    fn one_lane_writes_no_lane_keys() {
        let (settings, _) = Settings::from_query("?model=tiny&temperature=0.7");
        assert_eq!(settings.to_query(), "?model=tiny&temperature=0.7");
    }

    #[test]
    fn a_lane_refuses_shared_settings_and_gaps() {
        let (settings, problems) = Settings::from_query("?lane1=seed%3D3");
        assert!(settings.lanes.is_empty());
        assert!(
            problems[0].contains("seed is shared by every lane"),
            "{problems:?}"
        );
        let (settings, problems) = Settings::from_query("?lane2=strategy%3Dgreedy");
        assert!(settings.lanes.is_empty());
        assert!(
            problems[0].contains("lane1, which is missing"),
            "{problems:?}"
        );
        let (_, problems) = Settings::from_query("?lane1=temperature%3Dhot");
        assert!(
            problems[0].contains("temperature=hot: not a number"),
            "{problems:?}"
        );
        assert_eq!(lane_of_key("lane4"), None);
        assert_eq!(lane_of_key("lane0"), None);
    }
}
