// PageBuffer: anonymous memory mapped from the kernel in whole pages, which can be split
// into adjacent buffers and whose pages several buffers can be moved into one contiguous
// buffer (Linux mremap) without copying or touching new memory. The tensor pool builds
// on it so that memory freed by small tensors serves a larger one.
import CDNNL
import Foundation

/// Page-aligned anonymous memory, zero until first written, unmapped when released.
public final class PageBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let byteCount: Int
    /// False once the pages went to other buffers (split or merged).
    private var owns = true

    /// The system page size.
    public static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// `bytes` rounded up to whole pages.
    public static func rounded(_ bytes: Int) -> Int { max(1, (bytes + pageSize - 1) / pageSize) * pageSize }

    /// A new mapping of at least `byteCount` bytes (rounded up to whole pages).
    public convenience init(byteCount: Int) {
        let size = PageBuffer.rounded(byteCount)
        let mapped: UnsafeMutableRawPointer? = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p = mapped, p != UnsafeMutableRawPointer(bitPattern: -1) else {
            fatalError("PageBuffer: cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        self.init(pointer: p, byteCount: size)
    }

    private init(pointer: UnsafeMutableRawPointer, byteCount: Int) {
        self.pointer = pointer
        self.byteCount = byteCount
    }

    /// The first `bytes` (rounded up to pages) and the rest, as two buffers; this buffer
    /// gives its pages to them. Nil when nothing would be left over.
    public func split(at bytes: Int) -> (PageBuffer, PageBuffer)? {
        let head = PageBuffer.rounded(bytes)
        guard owns, head < byteCount else { return nil }
        owns = false
        return (PageBuffer(pointer: pointer, byteCount: head),
                PageBuffer(pointer: pointer + head, byteCount: byteCount - head))
    }

    /// One buffer of at least `byteCount` bytes holding the pages of `parts` in order,
    /// moved rather than copied (their contents come along; the rest is new, zero
    /// memory, touched only when written). The parts give their pages to it.
    public static func merge(_ parts: [PageBuffer], byteCount: Int) -> PageBuffer {
        let used = parts.reduce(0) { $0 + $1.byteCount }
        let merged = PageBuffer(byteCount: max(byteCount, used))
        var offset = 0
        for part in parts {
            require(part.owns, "PageBuffer.merge: a part gave its pages away already")
            let moved = reidprune_move_pages(part.pointer, part.byteCount, merged.pointer + offset)
            require(moved == merged.pointer + offset,
                    "PageBuffer.merge: moving \(part.byteCount) bytes failed: \(String(cString: strerror(errno)))")
            part.owns = false
            offset += part.byteCount
        }
        return merged
    }

    deinit { if owns { munmap(pointer, byteCount) } }
}
