// Recipe: what a recipe file asks for, decided from its merged tree (the `base:` chain
// and the overrides included): the pruning scenarios when it has a `scenario:` section,
// a training run otherwise.
import Foundation

public enum Recipe {
    case training(ExperimentConfig)
    case scenario(ScenarioConfig)

    /// Loads `path` with its base chain and `overrides` (`a.b=value`) and reads it.
    public static func load(_ path: String, overrides: [String] = []) throws -> Recipe {
        try parse(ConfigFile.load(path, overrides: overrides))
    }

    public static func parse(_ file: ConfigFile) throws -> Recipe {
        file.has("scenario") ? .scenario(try ScenarioConfig.parse(file)) : .training(try ExperimentConfig.parse(file))
    }
}
