// The C shim modules link and expose what Swift needs: Open MPI's handle getters in a
// singleton world, oneDNN's version and threads, and a TurboJPEG encode/decode round trip.
import CDNNL
import CMPI
import CTurboJPEG
import XCTest

final class CShimsTests: XCTestCase {
    func testMPIHandlesInASingletonWorld() {
        var initialized: Int32 = 0
        MPI_Initialized(&initialized)
        if initialized == 0 {
            var provided: Int32 = 0
            XCTAssertEqual(MPI_Init_thread(nil, nil, reidprune_mpi_thread_funneled(), &provided), reidprune_mpi_success())
        }
        let world = reidprune_mpi_comm_world()
        var size: Int32 = 0, rank: Int32 = -1
        MPI_Comm_size(world, &size)
        MPI_Comm_rank(world, &rank)
        XCTAssertEqual(size, 1)
        XCTAssertEqual(rank, 0)
        var values: [Float] = [1, 2, 3]
        XCTAssertEqual(MPI_Allreduce(reidprune_mpi_in_place(), &values, 3, reidprune_mpi_float(), reidprune_mpi_sum(),
                                     world), reidprune_mpi_success())
        XCTAssertEqual(values, [1, 2, 3])
        var message = [CChar](repeating: 0, count: Int(reidprune_mpi_max_error_string()))
        var length: Int32 = 0
        MPI_Error_string(1, &message, &length)
        XCTAssertGreaterThan(length, 0)
    }

    func testDNNLVersionAndThreads() {
        XCTAssertEqual(dnnl_version()!.pointee.major, 2)
        XCTAssertEqual(reidprune_omp_set_num_threads(1), 0, "OpenMP runtime not found through oneDNN")
        XCTAssertEqual(reidprune_omp_get_max_threads(), 1)
        _ = reidprune_omp_set_num_threads(Int32(ProcessInfo.processInfo.activeProcessorCount))
    }

    func testTurboJPEGRoundTrip() throws {
        let (w, h) = (16, 8)
        var pixels = [UInt8](repeating: 0, count: w * h * 3)
        for i in 0..<(w * h) { pixels[i * 3] = UInt8(i % 256); pixels[i * 3 + 1] = 128; pixels[i * 3 + 2] = 64 }
        let encoder = tjInitCompress()
        defer { tjDestroy(encoder) }
        var jpeg: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        XCTAssertEqual(tjCompress2(encoder, pixels, Int32(w), 0, Int32(h), Int32(TJPF_RGB.rawValue), &jpeg, &size,
                                   Int32(TJSAMP_444.rawValue), 100, 0), 0)
        defer { tjFree(jpeg) }
        let decoder = tjInitDecompress()
        defer { tjDestroy(decoder) }
        var dw: Int32 = 0, dh: Int32 = 0, sub: Int32 = 0, space: Int32 = 0
        XCTAssertEqual(tjDecompressHeader3(decoder, jpeg, size, &dw, &dh, &sub, &space), 0)
        XCTAssertEqual([dw, dh], [Int32(w), Int32(h)])
        var out = [UInt8](repeating: 0, count: w * h * 3)
        XCTAssertEqual(tjDecompress2(decoder, jpeg, size, &out, dw, 0, dh, Int32(TJPF_RGB.rawValue), TJFLAG_ACCURATEDCT), 0)
        let maxDiff = zip(out, pixels).map { abs(Int($0) - Int($1)) }.max()!
        XCTAssertLessThanOrEqual(maxDiff, 3)
    }
}
