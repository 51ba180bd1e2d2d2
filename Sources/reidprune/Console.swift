// Console: unbuffered output lines, so that progress shows as it happens even when
// stdout is a file or a pipe (mpirun's, a log's).
import Foundation

enum Console {
    static func line(_ s: String) {
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
    }
}
