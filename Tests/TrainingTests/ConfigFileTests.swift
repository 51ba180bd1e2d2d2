// Recipes: base chains and overrides merge as documented; a malformed file, an unknown
// key, a value of the wrong type or range each fail naming the file and the key. A
// recipe is a scenario when its merged tree has a `scenario:` section; a typed config's
// YAML reads back as the same config, for the recipes in configs/ and scenario stages.
import Foundation
import ReIDData
import Training
import TestSupport
import XCTest

final class ConfigFileTests: ScratchFolderTestCase {
    func testBaseChainAndOverrides() throws {
        _ = try write("base.yaml", "model: {arch: resnet18}\ndata: {root: d, height: 64, width: 32}\ntrain: {epochs: 7, lr: 0.01}\n")
        let child = try write("child.yaml", "base: base.yaml\ntrain: {epochs: 9}\n")
        let c = try ExperimentConfig.parse(try ConfigFile.load(child, overrides: ["train.lr=0.5", "run.dir=runs/x"]))
        XCTAssertEqual(c.model.archName, "resnet18")
        XCTAssertEqual(c.train.epochs, 9, "the child overrides its base")
        XCTAssertEqual(c.train.schedule.base, 0.5, "the command line overrides both")
        XCTAssertEqual(c.runDirectory, "runs/x")
        XCTAssertEqual(c.data.augment.height, 64)
    }

    /// A mapping given on the command line for a section sets its keys and keeps the
    /// section's others (as `base:` merges); an unknown key inside it names the override.
    func testAMappingOverrideMergesIntoItsSection() throws {
        let recipe = try write("m.yaml", "data: {root: d, synth: {domain: mall, ids: 40, seed: 11}}\n")
        let c = try ExperimentConfig.parse(try ConfigFile.load(recipe, overrides: ["data.synth={ids: 12, cameras: 2}"]))
        XCTAssertEqual(c.data.synth?.ids, 12)
        XCTAssertEqual(c.data.synth?.cameras, 2)
        XCTAssertEqual(c.data.synth?.seed, 11, "the recipe's other synth keys stay")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(recipe, overrides: ["data.synth={idz: 12}"]))) {
            XCTAssertTrue("\($0)".contains("override 'data.synth={idz: 12}': unknown key 'data.synth.idz'"), "\($0)")
        }
    }

    /// A key set to null removes it with what a base gave it: an optional section turns
    /// off, other keys take their default; a misspelt key set to null is still unknown.
    func testNullRemovesAKey() throws {
        _ = try write("nb.yaml", "model: {arch: resnet50}\ndata: {root: d, synth: {domain: mall, ids: 40}}\ntrain: {epochs: 7, lr: 0.5}\n")
        let child = try write("nc.yaml", "base: nb.yaml\ndata: {synth: null}\ntrain: {lr: ~}\n")
        let c = try ExperimentConfig.parse(try ConfigFile.load(child))
        XCTAssertNil(c.data.synth, "the base's synth section is removed")
        XCTAssertEqual(c.data.root, "d")
        let defaults = try ExperimentConfig.parse(try ConfigFile.load(try write("nd.yaml", "data: {root: d}\n")))
        XCTAssertEqual(c.train.schedule.base, defaults.train.schedule.base, "lr takes its default")
        XCTAssertEqual(c.train.epochs, 7)
        let base = try write("nb2.yaml", "base: nb.yaml\n")
        let o = try ExperimentConfig.parse(try ConfigFile.load(base, overrides: ["data.synth=null", "model=~"]))
        XCTAssertNil(o.data.synth)
        XCTAssertEqual(o.model.archName, defaults.model.archName, "a whole section set to null takes its defaults")
        let again = try ExperimentConfig.parse(try ConfigFile.load(child, overrides: ["data.synth={ids: 5}"]))
        XCTAssertEqual(again.data.synth?.ids, 5, "a section set after null starts from its defaults")
        XCTAssertEqual(again.data.synth?.domain, SynthOptions().domain)
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(base, overrides: ["train.lrr=null"]))) {
            XCTAssertTrue("\($0)".contains("override 'train.lrr=null': unknown key 'train.lrr'"), "\($0)")
        }
        let typo = try write("nf.yaml", "base: nb.yaml\ntrain: {lrr: null}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(typo))) {
            XCTAssertTrue("\($0)".contains("unknown key 'train.lrr'"), "\($0)")
        }
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(base, overrides: ["train.epochs=99999999999999999999"]))) {
            XCTAssertEqual("\($0)", "override 'train.epochs=99999999999999999999': expected an integer from "
                           + "-9223372036854775808 to 9223372036854775807, got 99999999999999999999")
        }
        // A FLOPs target switched to a latency target: its alternatives, set to null, are known keys.
        let flops = try write("np.yaml", "data: {root: d}\nprune: {criterion: l1, target_flops: 0.5, remove_channels: 9}\n")
        let latency = try ExperimentConfig.parse(try ConfigFile.load(flops, overrides: [
            "prune.target_latency=0.6", "prune.target_flops=null", "prune.remove_channels=~", "prune.stop=null"]))
        XCTAssertEqual(latency.prune?.settings.ranking.targetLatency, 0.6)
        XCTAssertNil(latency.prune?.settings.ranking.targetFLOPs)
    }

    /// A recipe nested deeper than the YAML reader can recurse, or one whose aliases expand
    /// past any memory, is a malformed recipe named in one line (not a crash).
    func testDeepOrExplodingYAMLIsRefused() throws {
        let deep = try write("deep.yaml", "train: {lr: " + String(repeating: "[", count: 5000) + "}\n")
        XCTAssertThrowsError(try ConfigFile.load(deep)) {
            XCTAssertEqual("\($0)", "\(deep): malformed YAML: line 1 nests more than 200 levels")
        }
        let dashes = try write("dashes.yaml", "x:\n" + String(repeating: "- ", count: 3000) + "1\n")
        XCTAssertThrowsError(try ConfigFile.load(dashes)) {
            XCTAssertEqual("\($0)", "\(dashes): malformed YAML: line 2 nests more than 200 levels")
        }
        var laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 { laughs += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        let bomb = try write("laughs.yaml", laughs)
        XCTAssertThrowsError(try ConfigFile.load(bomb)) {
            XCTAssertEqual("\($0)", "\(bomb): holds more than 100000 values once its aliases are expanded; a recipe is far smaller")
        }
        // Brackets in quotes and comments do not count; an ordinary recipe loads.
        let fine = try write("fine.yaml", "train: {lr: 0.1}  # [[[[\nrun: {dir: \"" + String(repeating: "[", count: 300)
                             + "\\\\\", note: 'it''s [[['}\n# ''[[\nx: [\"a\", 'b']\n")
        XCTAssertNoThrow(try ConfigFile.load(fine))
        // A quote inside a plain scalar, or after an escaped backslash, opens nothing: the nesting after it counts.
        // (Quotes in block scalars, after anchors and tags, in plain scalars and their continuation lines.)
        for (name, opener) in [("apostrophe", "run: {note: it's}\n"), ("escape", "run: {note: \"a\\\\\"}\n"),
                               ("spaced", "run: {note: a 'b}\n"), ("block", "note: |\n  'tis \"\n"),
                               ("anchor", "note: &x \"\n  \"\n"), ("tag", "note: !!str \"\n  \"\n"),
                               ("continued", "note: x\n  \"\n")] {
            let file = try write("\(name).yaml", opener + "train: {lr: " + String(repeating: "[", count: 5000) + "}\n")
            let line = opener.filter { $0 == "\n" }.count + 1
            XCTAssertThrowsError(try ConfigFile.load(file)) {
                XCTAssertEqual("\($0)", "\(file): malformed YAML: line \(line) nests more than 200 levels")
            }
        }
        // Complex keys nest too; so do aliases inside aliased collections.
        let keys = try write("keys.yaml", String(repeating: "? ", count: 3000) + "x\n")
        XCTAssertThrowsError(try ConfigFile.load(keys)) {
            XCTAssertEqual("\($0)", "\(keys): malformed YAML: line 1 nests more than 200 levels")
        }
        var chain = "a0: &a0 " + String(repeating: "[", count: 150) + "1" + String(repeating: "]", count: 150) + "\n"
        for i in 1...3 {
            chain += "a\(i): &a\(i) " + String(repeating: "[", count: 150) + "*a\(i - 1)" + String(repeating: "]", count: 150) + "\n"
        }
        let aliased = try write("aliased.yaml", chain)
        XCTAssertThrowsError(try ConfigFile.load(aliased)) {
            XCTAssertEqual("\($0)", "\(aliased): malformed YAML: nests more than 200 levels once its aliases are expanded")
        }
        // Overrides are read within the same bounds.
        let plain = try write("plain.yaml", "train: {lr: 0.1}\n")
        XCTAssertThrowsError(try ConfigFile.load(plain, overrides: ["train.lr=" + laughs.replacingOccurrences(of: "\n", with: "")
                                                                        .replacingOccurrences(of: "a0: ", with: "{a0: ")
                                                                        .replacingOccurrences(of: "]a", with: "], a") + "}"])) {
            XCTAssertTrue("\($0)".hasPrefix("override 'train.lr={a0: &a0 [x"), "\($0)")
            XCTAssertTrue("\($0)".hasSuffix("': holds more than 100000 values once its aliases are expanded; a recipe is far smaller"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigFile.load(plain, overrides: ["train.lr=" + String(repeating: "[", count: 5000)])) {
            XCTAssertTrue("\($0)".hasSuffix("': malformed YAML: line 1 nests more than 200 levels"), "\($0)")
        }
    }

    func testErrorsNameTheFileAndTheKey() throws {
        let bad = try write("bad.yaml", "model: {arch: resnet18\n")
        XCTAssertThrowsError(try ConfigFile.load(bad)) { XCTAssertTrue("\($0)".contains("bad.yaml: malformed YAML"), "\($0)") }
        let typo = try write("typo.yaml", "data: {root: d}\ntrain: {epochz: 3}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(typo))) {
            XCTAssertTrue("\($0)".contains("typo.yaml: unknown key 'train.epochz'"), "\($0)")
        }
        let type = try write("type.yaml", "data: {root: d}\ntrain: {epochs: many}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(type))) {
            XCTAssertTrue("\($0)".contains("key 'train.epochs': expected an integer"), "\($0)")
        }
        let arch = try write("arch.yaml", "data: {root: d}\nmodel: {arch: vgg16}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(arch))) {
            XCTAssertTrue("\($0)".contains("key 'model.arch': 'vgg16' is not one of"), "\($0)")
        }
        let range = try write("range.yaml", "data: {root: d}\nprune: {target_flops: 1.5}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(range))) {
            XCTAssertTrue("\($0)".contains("key 'prune.target_flops'"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigFile.load(dir.appendingPathComponent("missing.yaml").path)) {
            XCTAssertTrue("\($0)".contains("missing.yaml: cannot read"), "\($0)")
        }
        let cycle = try write("cycle.yaml", "base: cycle.yaml\n")
        XCTAssertThrowsError(try ConfigFile.load(cycle)) { XCTAssertTrue("\($0)".contains("cycle"), "\($0)") }
        XCTAssertThrowsError(try ConfigFile.load(typo, overrides: ["train.epochs"])) {
            XCTAssertTrue("\($0)".contains("expected key=value"), "\($0)")
        }
    }

    /// Duplicate keys, a section overwritten by a scalar, values that came from the command
    /// line, and image sizes: each message names what is really wrong.
    func testMessagesSayWhatIsReallyWrong() throws {
        let dup = try write("dup.yaml", "data: {root: d}\ntrain: {epochs: 1}\neval: {every: 1}\ntrain: {lr: 0.1}\n")
        XCTAssertThrowsError(try ConfigFile.load(dup)) { error in
            XCTAssertTrue("\(error)".contains("dup.yaml: line 4: key 'train' appears twice"), "\(error)")
        }
        let nested = try write("nested.yaml", "data: {root: d, augment: {flip: 0.5, flip: 0.2}}\n")
        XCTAssertThrowsError(try ConfigFile.load(nested)) { XCTAssertTrue("\($0)".contains("key 'data.augment.flip' appears twice"), "\($0)") }
        let ok = try write("ok.yaml", "data: {root: d}\ntrain: {epochs: 1}\n")
        XCTAssertThrowsError(try ConfigFile.load(ok, overrides: ["train=5"])) { error in
            XCTAssertTrue("\(error)".contains("override 'train=5': 'train' is a section (train.epochs, ...)"), "\(error)")
        }
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(ok, overrides: ["train.epochs=abc"]))) { error in
            XCTAssertEqual("\(error)", "override 'train.epochs=abc': expected an integer, got \"abc\"")
        }
        let quoted = try write("quoted.yaml", "data: {root: d}\ntrain: {epochs: \"5\"}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(quoted))) {
            XCTAssertTrue("\($0)".hasSuffix("key 'train.epochs': expected an integer, got \"5\" (quoted, so text)"), "\($0)")
        }
        let scalar = try write("scalar.yaml", "data: {root: d}\nmodel: resnet18\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(scalar))) {
            XCTAssertTrue("\($0)".hasSuffix("key 'model': is a section: expected a mapping of its keys (such as model: {...}), "
                                            + "got \"resnet18\""), "\($0)")
        }
        // A section's own validation names the key where the section sits, not an override of another one.
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../configs/scenarios/synth_pretrain_resnet18.yaml").standardized.path
        let sourceLR = try write("nested-lr.yaml", "base: \(shipped)\nscenario:\n  source:\n    train: {lr: -1}\n")
        XCTAssertThrowsError(try Recipe.load(sourceLR, overrides: ["train.lr=0.1"])) {
            XCTAssertTrue("\($0)".hasSuffix("key 'scenario.source.train.lr': must be positive, got -1.0"), "\($0)")
        }
        let orphan = try write("orphan.yaml", "base: gone.yaml\ndata: {root: d}\n")
        XCTAssertThrowsError(try ConfigFile.load(orphan)) {
            XCTAssertEqual("\($0)", "\(orphan): base: cannot read the recipe it names, '\(self.dir.path)/gone.yaml'")
        }
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(ok, overrides: ["data.height=0"]))) { error in
            XCTAssertEqual("\(error)", "override 'data.height=0': must be at least 32, got 0")
        }
        let small = try write("small.yaml", "data: {root: d, width: 8}\n")
        XCTAssertThrowsError(try ExperimentConfig.parse(try ConfigFile.load(small))) { error in
            XCTAssertTrue("\(error)".contains("small.yaml: key 'data.width': must be at least 16, got 8"), "\(error)")
        }
    }

    static let scenarioBase = """
        model: {arch: resnet18, base_width: 4}
        data: {height: 64, width: 32, identities: 6, instances: 2, workers: 1}
        train: {optimizer: sgd, lr: 0.05, warmup_epochs: 1, schedule: cosine, min_lr: 0.001, loss: {triplet_margin: 0.25}}
        prune: {batches: 2, normalizer: max}
        eval: {batch_size: 32}
        run: {seed: 7}
        scenario:
          source: {root: src, synth: {domain: campus, ids: 16, cameras: 2, images_per_id: 6, seed: 8, height: 64, width: 32}}
          targets:
            - {root: tgt, identities: 4, synth: {domain: mall, ids: 12, cameras: 2, images_per_id: 6, seed: 9, height: 64, width: 32}}
            - {root: tgt2}
          source_epochs: 3
          target_epochs: 2
          retrain_epochs: 4
          criteria: [taylor, l1]
          baselines: [resnet34]
          dir: runs/scen

        """

    func testScenarioInheritedThroughBaseNeedsNoDataRoot() throws {
        _ = try write("scenario.yaml", Self.scenarioBase)
        let child = try write("child.yaml", "base: scenario.yaml\nscenario: {target_epochs: 5}\n")
        guard case let .scenario(c) = try Recipe.load(child, overrides: ["scenario.targets[1].root=elsewhere"]) else {
            return XCTFail("a recipe that inherits scenario: is a scenario")
        }
        XCTAssertEqual(c.base.data.root, "", "no data.root needed")
        XCTAssertEqual(c.targetEpochs, 5, "the child overrides its base")
        XCTAssertEqual(c.sourceEpochs, 3)
        XCTAssertEqual(c.criteria, [.taylor, .l1])
        XCTAssertEqual(c.baselines, [.resnet34])
        XCTAssertEqual(c.source.root, "src")
        XCTAssertEqual(c.source.synth?.domain, "campus")
        XCTAssertEqual(c.source.augment.height, 64, "a scenario's data section starts from the recipe's")
        XCTAssertEqual(c.targets.map(\.root), ["tgt", "elsewhere"], "an override reaches a list item")
        XCTAssertEqual(c.targets.map(\.identities), [4, 6])
        XCTAssertNil(c.targets[1].synth)

        let typo = try write("typo.yaml", "base: scenario.yaml\nscenario: {targets: [{root: a}, {root: b, rooot: c}]}\n")
        XCTAssertThrowsError(try Recipe.load(typo)) {
            XCTAssertTrue("\($0)".contains("unknown key 'scenario.targets[1].rooot'"), "\($0)")
        }
        let noRoot = try write("noroot.yaml", "base: scenario.yaml\nscenario: {targets: [{root: a}, {identities: 8}]}\n")
        XCTAssertThrowsError(try Recipe.load(noRoot)) {
            XCTAssertTrue("\($0)".contains("key 'scenario.targets[1].root': missing"), "\($0)")
        }
    }

    func testTrainingRecipeWithoutDataRootFailsNamingIt() throws {
        let path = try write("train.yaml", "model: {arch: resnet18}\ntrain: {epochs: 2}\n")
        XCTAssertThrowsError(try Recipe.load(path)) {
            XCTAssertTrue("\($0)".contains("train.yaml: key 'data.root': missing"), "\($0)")
        }
        guard case let .training(c) = try Recipe.load(path, overrides: ["data.root=d"]) else {
            return XCTFail("a recipe without scenario: is a training run")
        }
        XCTAssertEqual(c.train.epochs, 2)
    }

    /// The fields of a run that its saved recipe must reproduce.
    func assertSameRun(_ a: ExperimentConfig, _ b: ExperimentConfig, _ what: String) {
        XCTAssertEqual(a.task, b.task, what)
        XCTAssertEqual(a.classificationData, b.classificationData, what)
        XCTAssertEqual(a.model, b.model, what)
        XCTAssertEqual(a.train, b.train, what)
        XCTAssertEqual(a.eval, b.eval, what)
        XCTAssertEqual(a.runDirectory, b.runDirectory, what)
        XCTAssertEqual(a.seed, b.seed, what)
        XCTAssertEqual(a.data.root, b.data.root, what)
        XCTAssertEqual(a.data.kind, b.data.kind, what)
        XCTAssertEqual(a.data.synth, b.data.synth, what)
        XCTAssertEqual(a.data.augment, b.data.augment, what)
        XCTAssertEqual([a.data.identities, a.data.instances, a.data.batchSize, a.data.loader.workers],
                       [b.data.identities, b.data.instances, b.data.batchSize, b.data.loader.workers], what)
        XCTAssertEqual(a.data.loader.seed, b.data.loader.seed, what)
        XCTAssertEqual(a.prune == nil, b.prune == nil, what)
        if let p = a.prune, let q = b.prune {
            XCTAssertEqual(p.settings.criterion, q.settings.criterion, what)
            XCTAssertEqual(p.settings.ranking.targetFLOPs, q.settings.ranking.targetFLOPs, what)
            XCTAssertEqual(p.settings.resolvedRanking.normalizer, q.settings.resolvedRanking.normalizer, what)
            XCTAssertEqual(p.settings.resolvedRanking.mode, q.settings.resolvedRanking.mode, what)
            XCTAssertEqual(p.settings.overrides, q.settings.overrides, what)
            XCTAssertEqual(p.perStep, q.perStep, what)
            XCTAssertEqual(p.stopChannels, q.stopChannels, what)
            XCTAssertEqual(p.finalEpochs, q.finalEpochs, what)
            XCTAssertEqual(p.every, q.every, what)
            XCTAssertEqual(p.settings.scoreEpochs, q.settings.scoreEpochs, what)
            XCTAssertEqual([p.settings.ranking.height, p.settings.ranking.width, p.settings.batches, p.steps, p.startEpoch],
                           [q.settings.ranking.height, q.settings.ranking.width, q.settings.batches, q.steps, q.startEpoch], what)
            XCTAssertEqual(p.settings.seed, q.settings.seed, what)
        }
        XCTAssertEqual(a.yaml, b.yaml, what)
    }

    func testScenarioStageEqualsItsSavedRecipe() throws {
        let path = try write("scenario.yaml", Self.scenarioBase)
        guard case let .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario") }
        let half = c.targetFLOPs.squareRoot()
        let stages = [
            c.stageConfig("source", data: c.source, epochs: c.sourceEpochs, pretrained: nil),
            c.stageConfig("s2-taylor-target-prune", data: c.targets[0], epochs: c.retrainEpochs,
                          pretrained: "runs/scen/s2-taylor-target/model.safetensors", prune: (.taylor, .flops(c.targetFLOPs / half))),
            c.stageConfig("target-resnet34", data: c.targets[0], epochs: c.targetEpochs,
                          pretrained: "runs/scen/source-resnet34/model.safetensors", arch: .resnet34),
        ]
        XCTAssertEqual(stages[1].train.schedule.decay, .cosine(totalEpochs: 4, minimum: 0.001), "the cosine follows the epochs")
        XCTAssertEqual(stages[1].prune?.settings.ranking.height, 64)
        XCTAssertEqual(stages[2].model.archName, "resnet34")
        XCTAssertNil(stages[2].prune)
        for stage in stages {
            XCTAssertFalse(stage.yaml.contains("scenario"), stage.yaml)
            let saved = try write("stage.yaml", stage.yaml)
            guard case let .training(read) = try Recipe.load(saved) else { return XCTFail("a stage's recipe is a training run") }
            assertSameRun(read, stage, stage.runDirectory)
        }
    }

    /// The recipes in configs/ load, and a training recipe's YAML reads back as itself.
    func testShippedRecipesLoadAndRoundTrip() throws {
        let configs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs")
            .standardized
        let files = FileManager.default.enumerator(atPath: configs.path)!.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".yaml") }.sorted()
        XCTAssertGreaterThan(files.count, 4)
        for name in files {
            switch try Recipe.load(configs.appendingPathComponent(name).path) {
            case let .training(c):
                let again = try ExperimentConfig.parse(try ConfigFile.load(try write("again.yaml", c.yaml)))
                assertSameRun(again, c, name)
            case let .scenario(s):
                XCTAssertTrue(name.hasPrefix("scenarios/") || name.hasPrefix("study/scenarios/") || name.hasPrefix("study/synth/"), name)
                XCTAssertFalse(s.targets.isEmpty)
                // Each kind of stage's saved recipe (config.yaml in its folder) reruns as itself.
                // (a stage, whether it is a source stage)
                var stages = [(s.sourceStageConfig("source", epochs: nil, pretrained: nil), true)]
                for criterion in s.criteria {
                    stages.append((s.sourceStageConfig("s1", epochs: s.retrainEpochs, pretrained: "m.safetensors",
                                                       prune: (criterion, s.stop)), true))
                    stages.append((s.stageConfig("s3", data: s.targets[0], epochs: s.retrainEpochs, pretrained: "m.safetensors",
                                                 prune: (criterion, s.stop)), false))
                }
                for (stage, onSource) in stages {
                    let again = try ExperimentConfig.parse(try ConfigFile.load(try write("stage.yaml", stage.yaml)))
                    if s.classificationSource != nil && onSource {
                        // A classification stage: its data section is the classification one.
                        XCTAssertEqual(again.yaml, stage.yaml, "\(name) \(stage.runDirectory)")
                    } else {
                        assertSameRun(again, stage, "\(name) \(stage.runDirectory)")
                    }
                }
            }
        }
    }
}
