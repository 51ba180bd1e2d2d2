// A loader released right after it is made (and shut down) ends its worker threads
// cleanly, even when they only start running after it is gone.
import Foundation
import ReIDData
import XCTest

final class DataLoaderLifetimeTests: XCTestCase {
    func testLoaderReleasedBeforeItsThreadsRun() throws {
        let records = (0..<8).map { ImageRecord(path: "/nonexistent/\($0).jpg", pid: $0 % 2, camid: $0 % 4) }
        let sampler = try IdentitySampler(pids: records.map(\.pid), identities: 2, instances: 2, seed: 1)
        var aug = AugmentConfig()
        aug.height = 32
        aug.width = 16
        var options = LoaderOptions()
        options.workers = 8
        for _ in 0..<200 {
            try DataLoader(records: records, labelMap: [0: 0, 1: 1], sampler: sampler, augment: aug, options: options)
                .shutdown()
        }
        Thread.sleep(forTimeInterval: 0.3)  // the late threads start, find no loader, and end
    }
}
