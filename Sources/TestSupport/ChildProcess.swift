// ChildProcess: runs a command for tests that drive the built executable (or mpirun,
// or a shell): its exit status and combined output, in an environment without what an
// MPI initialization in the test process leaves behind.
import Foundation

public enum ChildProcess {
    /// The reidprune executable built beside the running test bundle.
    public static var reidprune: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("reidprune").path
    }

    /// This process's environment without the variables an MPI initialization leaves
    /// (another test starts a singleton world), which would make a child mpirun think it
    /// runs inside that world.
    public static var cleanEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.filter { key, _ in
            !["OMPI_", "PMIX_", "ORTE_", "OPAL_"].contains { key.hasPrefix($0) }
        }
    }

    /// Runs `args[0]` with the rest as arguments, with `extra` added to the environment;
    /// returns its status and its standard output and error together.
    @discardableResult
    public static func run(_ args: [String], environment extra: [String: String] = [:]) throws
        -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        p.environment = cleanEnvironment.merging(extra) { _, new in new }
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
