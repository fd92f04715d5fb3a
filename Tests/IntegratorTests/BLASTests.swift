import Foundation
import Testing
@testable import Integrator

/// GSL calls whichever cblas_* the dynamic linker finds first. A build that lists libgslcblas before
/// libopenblas (gsl.pc's `-lgsl -lgslcblas` does) silently falls back to the reference BLAS, which
/// cost a quarter of a stiff run; nothing else would notice.
@Suite("BLAS")
struct BLASTests {
    @Test func gslCallsOpenBLAS() throws {
        let handle = try #require(dlopen(nil, RTLD_NOW))
        defer { dlclose(handle) }
        for symbol in ["cblas_dgemm", "cblas_dtrsv", "cblas_dger"] {
            let address = try #require(dlsym(handle, symbol), "\(symbol) is not defined in the process")
            let library = try mappedFile(containing: UInt(bitPattern: address))
            #expect(library.contains("openblas"), "\(symbol) resolves to \(library)")
        }
    }

    /// OpenBLAS's own threads beside sweep workers would oversubscribe the cores; every integrator
    /// pins it to the caller's thread before its first BLAS call.
    @Test func openBLASRunsOnTheCallersThread() throws {
        _ = try ODEIntegrator(system: decay(k: 1), settings: SolverSettings())
        let handle = try #require(dlopen(nil, RTLD_NOW))
        defer { dlclose(handle) }
        let symbol = try #require(dlsym(handle, "openblas_get_num_threads"))
        let threads = unsafeBitCast(symbol, to: (@convention(c) () -> Int32).self)
        #expect(threads() == 1)
    }
}

/// The file mapped at `address`, from /proc/self/maps ("start-end perms offset dev inode path"):
/// Glibc's module does not import dladdr.
private func mappedFile(containing address: UInt) throws -> String {
    // Read to the end: procfs reports a size of 0, which a read by size would trust.
    let file = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
    defer { try? file.close() }
    let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
    for line in maps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6 else { continue }
        let range = fields[0].split(separator: "-")
        guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
        if start <= address, address < end { return String(fields[5]) }
    }
    return "no mapped file"
}
