// A ResNet-50-shaped recipe with a given `prune:` section, parsed as `reidprune train`
// parses it, for the tests of pruning keys.
import TestSupport
import Training

extension ScratchFolderTestCase {
    func recipe(_ prune: String) throws -> ExperimentConfig {
        let path = try write("r.yaml", "model: {arch: resnet50, base_width: 8}\ndata: {root: d, height: 64, width: 32}\n"
                             + "train: {epochs: 3}\nprune: \(prune)\n")
        return try ExperimentConfig.parse(try ConfigFile.load(path))
    }
}
