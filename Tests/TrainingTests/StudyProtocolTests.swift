// The study's protocol in recipes: iterative schedules (channels removed per step, stop
// points, epochs), `preset: study`, per-criterion rankings and their overrides (in
// prune: and scenario:), scenario stages that keep the recipe's schedule, the training-
// time criteria's cut epochs, and the start of ResNet-18/34 baselines.
import Foundation
import NN
import Pruning
import Training
import TestSupport
import XCTest

final class StudyProtocolTests: ScratchFolderTestCase {
    let arch = ResNetArchitecture.resnet(.resnet50, baseWidth: 8)

    func testStudyPresetRemovesFivePercentPerStepUntilHalf() throws {
        let c = try recipe("{preset: study, criterion: l1}")
        let p = try XCTUnwrap(c.prune)
        XCTAssertEqual(p.perStep, 0.05)
        XCTAssertEqual(p.stopChannels, 0.5)
        XCTAssertNil(p.settings.ranking.targetFLOPs)
        XCTAssertEqual([p.every, p.finalEpochs, p.settings.scoreEpochs], [4, 25, 1])
        let head = c.model.head
        let unpruned = p.prunableChannels(arch, head: head)
        // Inner groups of ResNet-50 at base width 8: 2 per block, 3+4+6+3 blocks, widths 8/16/32/64: 944.
        XCTAssertEqual(unpruned, 2 * (3 * 8 + 4 * 16 + 6 * 32 + 3 * 64))
        XCTAssertEqual(unpruned, 944)
        XCTAssertEqual(p.plannedSteps(arch, head: head), 10)
        XCTAssertEqual(p.roundEpochs(10), [0, 4, 8, 12, 16, 20, 24, 28, 32, 36])
        XCTAssertEqual(p.totalEpochs(arch, head: head), 36 + 25)
        XCTAssertEqual(Experiment(config: c).config.train.epochs, 61, "final_epochs sets the run's length")
        // ... and the run says so, as the recipe's train.epochs was another.
        XCTAssertNotEqual(c.train.epochs, 61)
        XCTAssertEqual(Experiment(config: c).epochsNote, "train.epochs: 61, the prune schedule's last round (after epoch 36) "
                       + "and prune.final_epochs 25, in place of the recipe's \(c.train.epochs)")
        // Channels removed per round: 5% of 944 = 47 (rounded), until 472 (half) are gone.
        var current = unpruned
        var removed: [Int] = []
        for r in 0..<10 {
            XCTAssertFalse(p.stopped(current: current, unpruned: unpruned, flops: 1, unprunedFLOPs: 1), "round \(r)")
            let o = p.roundRanking(r, of: 10, current: current, unpruned: unpruned)
            XCTAssertNil(o.targetFLOPs)
            XCTAssertEqual(o.mode, .layerwise, "l1 ranks layer-wise")
            removed.append(o.removeChannels!)
            current -= o.removeChannels!
        }
        XCTAssertEqual(removed, Array(repeating: 47, count: 9) + [49])
        XCTAssertEqual(unpruned - current, 472)
        XCTAssertTrue(p.stopped(current: current, unpruned: unpruned, flops: 1, unprunedFLOPs: 1))
    }

    func testIterativeFLOPsStopAndFixedSteps() throws {
        let c = try recipe("{criterion: taylor, per_step: {channels: 0.1}, stop: {flops: 0.5}, retrain_epochs: 2, batches: 3}")
        let p = try XCTUnwrap(c.prune)
        XCTAssertEqual(p.settings.ranking.targetFLOPs, 0.5)
        XCTAssertNil(p.stopChannels)
        XCTAssertEqual(p.every, 2)
        let steps = p.plannedSteps(arch, head: c.model.head)
        // The estimate: removing steps x 10% of every inner group reaches half the FLOPs, one step less does not.
        let map = GroupMap.build(arch, head: c.model.head)
        func flops(_ share: Double) -> Int {
            let counts = map.groups.map { g in g.kind == .inner ? g.channels - Int((share * Double(g.channels)).rounded()) : g.channels }
            return FLOPsCounter.count(arch.withGroupCounts(counts, map: map), height: 64, width: 32).flops
        }
        let full = FLOPsCounter.count(arch, height: 64, width: 32).flops
        XCTAssertLessThanOrEqual(flops(0.1 * Double(steps)), full / 2, "\(steps)")
        XCTAssertGreaterThan(flops(0.1 * Double(steps - 1)), full / 2, "\(steps)")
        let unpruned = p.prunableChannels(arch, head: c.model.head)
        let first = p.roundRanking(0, of: steps, current: unpruned, unpruned: unpruned)
        XCTAssertEqual(first.removeChannels, 94, "10% of 944, or the FLOPs target, whichever comes first")
        XCTAssertEqual(first.targetFLOPs, 0.5)
        XCTAssertEqual(first.mode, .global, "taylor ranks globally")
        XCTAssertEqual(first.normalizer, .l2)
        let last = p.roundRanking(steps - 1, of: steps, current: unpruned - 94, unpruned: unpruned)
        XCTAssertNil(last.removeChannels, "the last planned round goes to the target")
        XCTAssertTrue(p.stopped(current: 0, unpruned: unpruned, flops: 50, unprunedFLOPs: 100))
        XCTAssertFalse(p.stopped(current: 0, unpruned: unpruned, flops: 51, unprunedFLOPs: 100))

        // Today's keys keep their meaning: fixed steps to geometric FLOPs targets.
        let fixed = try XCTUnwrap(try recipe("{criterion: l1, steps: 2, every: 1, target_flops: 0.25}").prune)
        XCTAssertNil(fixed.perStep)
        XCTAssertEqual(fixed.roundRanking(0, of: 2, current: 10, unpruned: 10).targetFLOPs!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(fixed.roundRanking(1, of: 2, current: 10, unpruned: 10).targetFLOPs!, 0.25, accuracy: 1e-12)
        // One shot with a channel stop.
        let shot = try XCTUnwrap(try recipe("{criterion: l2, stop: {channels: 0.3}}").prune)
        XCTAssertEqual(shot.roundRanking(0, of: 1, current: 100, unpruned: 100).removeChannels, 30)
    }

    func testBadScheduleKeysFailNamingThem() throws {
        let cases = [
            ("{per_step: {channels: 0}}", "key 'prune.per_step.channels': must be in (0, 1]"),
            ("{stop: {channels: 0.5, flops: 0.5}}", "key 'prune.stop': give one of channels or flops"),
            ("{stop: {channels: 0.5}, target_flops: 0.5}", "key 'prune.stop': give stop or target_flops"),
            ("{preset: paper}", "key 'prune.preset': 'paper' is not a preset (study)"),
            ("{score_epochs: 1, batches: 2}", "give score_epochs or batches, not both"),
            ("{per_step: {channels: 0.1}, steps: 3}", "key 'prune.steps': an iterative schedule (per_step) plans its own steps"),
            ("{criterion: soft_filter, per_step: {channels: 0.1}}", "soft_filter acts during training"),
            ("{overrides: {l1: {ranking: sideways}}}", "'sideways' is not one of global, layerwise"),
            ("{overrides: {l9: {ranking: global}}}", "unknown key 'prune.overrides.l9"),
        ]
        for (prune, message) in cases {
            XCTAssertThrowsError(try recipe(prune), prune) { XCTAssertTrue("\($0)".contains(message), "\(prune): \($0)") }
        }
    }

    func testRankingDefaultsAndOverrides() throws {
        let plain = try XCTUnwrap(try recipe("{criterion: bn_scale}").prune)
        XCTAssertEqual(plain.settings.resolvedRanking.mode, .global)
        XCTAssertEqual(plain.settings.resolvedRanking.normalizer, Normalizer.none, "BN scale ranks raw values")
        let c = try recipe("{criterion: l1, normalizer: max, overrides: {l1: {ranking: global}, taylor: {normalizer: mean}}}")
        var s = try XCTUnwrap(c.prune).settings
        XCTAssertEqual(s.resolvedRanking.mode, .global, "the override")
        XCTAssertEqual(s.resolvedRanking.normalizer, .max, "the recipe's choice for every criterion")
        s.criterion = .taylor
        XCTAssertEqual(s.resolvedRanking.mode, .global)
        XCTAssertEqual(s.resolvedRanking.normalizer, .mean)
        s.criterion = .fpgm
        XCTAssertEqual(s.resolvedRanking.mode, .layerwise, "fpgm's own")
        // The saved recipe reproduces the overrides.
        let again = try ExperimentConfig.parse(try ConfigFile.load(try write("again.yaml", c.yaml)))
        XCTAssertEqual(again.prune?.settings.overrides, c.prune?.settings.overrides)
        XCTAssertEqual(again.prune?.settings.normalizer, .max)
        XCTAssertNil(again.prune?.settings.mode)
    }

    static let scenario = """
        model: {arch: resnet50, base_width: 8}
        data: {height: 64, width: 32, identities: 6, instances: 2, workers: 1}
        prune: {preset: study, final_epochs: 3}
        scenario:
          source: {root: src}
          targets: [{root: tgt}]
          retrain_epochs: 2
          criteria: [l1, soft_filter, auto_balanced]
          baselines: [resnet18, resnet34]
          overrides: {l1: {ranking: global, normalizer: l2}}
          dir: runs/scen

        """

    func testScenarioStagesKeepTheIterativeSchedule() throws {
        let path = try write("scen.yaml", Self.scenario)
        guard case let .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario") }
        XCTAssertEqual(c.stop, .channels(0.5))
        guard case let (.channels(a), .channels(b)) = c.halfStops else { return XCTFail("channel stops") }
        XCTAssertEqual(a, 0.25)
        XCTAssertEqual((1 - a) * (1 - b), 0.5, accuracy: 1e-12, "scenario 2's two stops remove half of the channels")
        let l1 = c.stageConfig("s1-l1", data: c.source, epochs: c.retrainEpochs, pretrained: nil, prune: (.l1, c.stop))
        let p = try XCTUnwrap(l1.prune)
        XCTAssertEqual(p.perStep, 0.05, "not forced to one shot")
        XCTAssertEqual(p.stopChannels, 0.5)
        XCTAssertEqual(l1.train.epochs, 36 + 3, "ten rounds four epochs apart, then final_epochs")
        XCTAssertEqual(p.settings.resolvedRanking.mode, .global, "scenario.overrides")
        XCTAssertEqual(p.settings.resolvedRanking.normalizer, .l2)
        for kind in [CriterionKind.softFilter, .autoBalanced] {
            let stage = c.stageConfig("s1-\(kind.rawValue)", data: c.source, epochs: 2, pretrained: nil, prune: (kind, c.stop))
            let q = try XCTUnwrap(stage.prune)
            XCTAssertNil(q.perStep)
            XCTAssertEqual(q.steps, 1)
            XCTAssertEqual(q.startEpoch, 36, "trains with the criterion as long as the iterative rounds span, then cuts")
            XCTAssertEqual(stage.train.epochs, 39)
            XCTAssertEqual(q.settings.resolvedRanking.mode, .layerwise)
            let saved = try write("stage.yaml", stage.yaml)
            guard case let .training(read) = try Recipe.load(saved) else { return XCTFail("a stage is a training run") }
            XCTAssertEqual(read.yaml, stage.yaml)
        }
    }

    func testBaselinesStartLikeTheSource() throws {
        let path = try write("scen.yaml", Self.scenario)
        guard case let .scenario(c) = try Recipe.load(path) else { return XCTFail("not a scenario") }
        // Source from scratch: baselines from scratch too, on the same data and epochs.
        let scratch = try c.baselineSourceConfig(.resnet18)
        XCTAssertNil(scratch.model.pretrained)
        XCTAssertEqual(scratch.model.archName, "resnet18")
        XCTAssertEqual(scratch.data.root, c.source.root)
        XCTAssertEqual(scratch.train.epochs, c.sourceEpochs)
        XCTAssertNil(scratch.prune)
        // Source from an imported backbone: each baseline from its own file, and an error naming the missing one.
        let imported = try write("imported.yaml", Self.scenario.replacingOccurrences(
            of: "  retrain_epochs: 2\n", with: "  retrain_epochs: 2\n  source_pretrained: r50.safetensors\n"
                + "  baseline_pretrained: {resnet18: r18.safetensors}\n"))
        guard case let .scenario(d) = try Recipe.load(imported) else { return XCTFail("not a scenario") }
        XCTAssertEqual(try d.baselineSourceConfig(.resnet18).model.pretrained, "r18.safetensors")
        XCTAssertThrowsError(try d.baselineSourceConfig(.resnet34)) {
            XCTAssertTrue("\($0)".contains("scenario.baseline_pretrained.resnet34: the source stage starts from r50.safetensors"), "\($0)")
        }
        let both = try write("both.yaml", Self.scenario.replacingOccurrences(of: "  retrain_epochs: 2\n",
                                                                            with: "  retrain_epochs: 2\n  target_flops: 0.4\n"))
        XCTAssertThrowsError(try Recipe.load(both)) {
            XCTAssertTrue("\($0)".contains("key 'scenario.target_flops': the recipe's prune: stops on a channel share"), "\($0)")
        }
        let stray = try write("stray.yaml", Self.scenario.replacingOccurrences(
            of: "  retrain_epochs: 2\n", with: "  retrain_epochs: 2\n  baseline_pretrained: {resnet101: x.safetensors}\n"))
        XCTAssertThrowsError(try Recipe.load(stray)) {
            XCTAssertTrue("\($0)".contains("scenario.baseline_pretrained.resnet101': resnet101 is not in scenario.baselines"), "\($0)")
        }
    }
}
