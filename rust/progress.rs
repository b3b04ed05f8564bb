//! A progress counter that a running XLA program ticks, and a stop request it obeys.
//!
//! Why here: a chunk of chains is one XLA program that may run for minutes. A host callback
//! could report its progress, but JAX never writes a program with host callbacks to its
//! persistent compilation cache. An XLA FFI custom call is an ordinary instruction of the
//! program, so the cache keeps it. [`xla_tick`] is that call's handler, in the C ABI of XLA's
//! FFI (`xla/ffi/api/c_api.h`): each call adds one to a counter that Python polls, writes zeros
//! to its result, and returns XLA's `CANCELLED` error once a stop has been requested (Ctrl-C),
//! which ends the program at its next tick. It costs an atomic add and a load: cheap enough to
//! run once per batched log-density evaluation.
//!
//! [`xla_advance`] is a second handler for kernels whose evaluations per step are not known
//! in advance (adapted trajectory lengths, NUTS's trees): the program calls it once per step
//! with an `int32` array of how many chains finished a step, and it adds their sum to a step
//! counter. Steps per chain are fixed by the run's settings, so that counter has a known end.
//!
//! The counters and the stop flag are global to the process: one sampling run at a time
//! reports.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static TICKS: AtomicU64 = AtomicU64::new(0);
static STEPS: AtomicU64 = AtomicU64::new(0);
static STOP: AtomicBool = AtomicBool::new(false);

/// Ticks since the last [`reset`].
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Chain-steps reported through [`xla_advance`] since the last [`reset`].
pub fn steps() -> u64 {
    STEPS.load(Ordering::Relaxed)
}

/// Zero the counters and withdraw any stop request.
pub fn reset() {
    TICKS.store(0, Ordering::Relaxed);
    STEPS.store(0, Ordering::Relaxed);
    STOP.store(false, Ordering::Relaxed);
}

/// Ask the running program to end with an error at its next tick.
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

// --- the parts of XLA's FFI C API that the handler reads (append-only structs) --------------
const EXTENSION_METADATA: c_int = 1;
const STAGE_EXECUTE: c_int = 3;
const ERROR_CANCELLED: c_int = 1;
const DTYPE_S32: c_int = 4;

#[repr(C)]
pub struct ExtensionBase {
    struct_size: usize,
    type_: c_int,
    next: *mut ExtensionBase,
}

#[repr(C)]
struct ApiVersion {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    major_version: c_int,
    minor_version: c_int,
}

#[repr(C)]
struct Metadata {
    struct_size: usize,
    api_version: ApiVersion,
    traits: u32,
}

#[repr(C)]
struct MetadataExtension {
    extension_base: ExtensionBase,
    metadata: *mut Metadata,
}

#[repr(C)]
struct Buffer {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    dtype: c_int,
    data: *mut c_void,
    rank: i64,
    dims: *const i64,
}

#[repr(C)]
struct List {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *const c_int,
    items: *const *mut c_void,
}

#[repr(C)]
struct ErrorCreateArgs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    message: *const c_char,
    errc: c_int,
}

type ErrorCreate = unsafe extern "C" fn(*mut ErrorCreateArgs) -> *mut c_void;

#[repr(C)]
pub struct Api {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api_version: ApiVersion,
    internal_api: *mut c_void,
    error_create: ErrorCreate,
}

#[repr(C)]
pub struct CallFrame {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api: *const Api,
    ctx: *mut c_void,
    stage: c_int,
    args: List,
    rets: List,
    attrs: List,
    future: *mut c_void,
}

/// The XLA FFI handler of the tick: `(...) -> int32 zeros` in the program, one count per call
/// out here (its arguments are ignored).
///
/// # Safety
/// `frame` must be a call frame that XLA's FFI passes to a handler: the metadata query at
/// registration, or a call with one result, an `int32` buffer on the host.
pub unsafe extern "C" fn xla_tick(frame: *mut CallFrame) -> *mut c_void {
    let count = |_: &CallFrame| {
        TICKS.fetch_add(1, Ordering::Relaxed);
    };
    // SAFETY: the caller's contract.
    unsafe { handle(frame, count) }
}

/// The XLA FFI handler of a step report: `(int32 counts) -> int32 zeros` in the program; the
/// sum of the counts is added to the step counter.
///
/// # Safety
/// As [`xla_tick`]; a first argument, if any, that is an `int32` buffer on the host is summed.
pub unsafe extern "C" fn xla_advance(frame: *mut CallFrame) -> *mut c_void {
    let count = |frame: &CallFrame| {
        // SAFETY: XLA passes `args.size` buffers in `args.items`.
        let counts = unsafe { int32_buffer(&frame.args, 0) };
        let sum: i64 = counts.iter().map(|&c| i64::from(c.max(0))).sum();
        STEPS.fetch_add(sum as u64, Ordering::Relaxed);
    };
    // SAFETY: the caller's contract.
    unsafe { handle(frame, count) }
}

/// The `i`-th buffer of `list` as `int32` values (empty if there is none or of another type).
///
/// # Safety
/// `list` must hold `size` valid buffers, as XLA passes them.
unsafe fn int32_buffer(list: &List, i: usize) -> &[i32] {
    if i >= list.size.max(0) as usize {
        return &[];
    }
    // SAFETY: `items` holds `size` buffers, each of `rank` dims (the caller's contract).
    unsafe {
        let buffer = &*(*list.items.add(i) as *const Buffer);
        if buffer.dtype != DTYPE_S32 || buffer.data.is_null() {
            return &[];
        }
        let dims = std::slice::from_raw_parts(buffer.dims, buffer.rank.max(0) as usize);
        let len: i64 = dims.iter().product();
        std::slice::from_raw_parts(buffer.data as *const i32, len.max(0) as usize)
    }
}

/// What both handlers share: answer XLA's metadata query, `count` at execution, zero the
/// results, and fail with `CANCELLED` once a stop has been requested.
///
/// # Safety
/// As [`xla_tick`].
unsafe fn handle(frame: *mut CallFrame, count: impl FnOnce(&CallFrame)) -> *mut c_void {
    if frame.is_null() {
        return null_mut();
    }
    // SAFETY: XLA passes a valid call frame (the caller's contract).
    let frame = unsafe { &*frame };
    let mut ext = frame.extension_start;
    while !ext.is_null() {
        // SAFETY: a non-null extension in XLA's chain is valid.
        let base = unsafe { &*ext };
        if base.type_ == EXTENSION_METADATA {
            // SAFETY: an extension of type Metadata is a MetadataExtension.
            let meta = unsafe { (*(ext as *mut MetadataExtension)).metadata };
            if !meta.is_null() {
                // SAFETY: XLA owns this out-parameter for the duration of the call.
                unsafe {
                    (*meta).api_version.major_version = 0;
                    (*meta).api_version.minor_version = 1;
                    (*meta).traits = 0;
                }
            }
            return null_mut();
        }
        ext = base.next;
    }
    if frame.stage != STAGE_EXECUTE {
        return null_mut();
    }
    count(frame);
    for i in 0..frame.rets.size.max(0) as usize {
        // SAFETY: `rets.items` holds `rets.size` buffers, each of `rank` dims.
        unsafe {
            let buffer = &*(*frame.rets.items.add(i) as *const Buffer);
            let dims = std::slice::from_raw_parts(buffer.dims, buffer.rank.max(0) as usize);
            let len: i64 = dims.iter().product();
            std::ptr::write_bytes(buffer.data as *mut i32, 0, len.max(0) as usize);
        }
    }
    if STOP.load(Ordering::Relaxed) && !frame.api.is_null() {
        let mut args = ErrorCreateArgs {
            struct_size: size_of::<ErrorCreateArgs>(),
            extension_start: null_mut(),
            message: c"stopped by the user".as_ptr(),
            errc: ERROR_CANCELLED,
        };
        // SAFETY: `api` is XLA's function table; XLA copies the message.
        return unsafe { ((*frame.api).error_create)(&mut args) };
    }
    null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    // The counter is global: the tests that use it take turns.
    static SERIAL: Mutex<()> = Mutex::new(());
    static mut LAST_ERRC: c_int = -1;
    static BUFFER_TYPE: [c_int; 1] = [1];

    unsafe extern "C" fn fake_error_create(args: *mut ErrorCreateArgs) -> *mut c_void {
        // SAFETY: test-only, called with a valid pointer by the handler.
        unsafe { LAST_ERRC = (*args).errc };
        8 as *mut c_void // any non-null pointer stands for an error
    }

    fn empty_list() -> List {
        List {
            struct_size: size_of::<List>(),
            extension_start: null_mut(),
            size: 0,
            types: std::ptr::null(),
            items: std::ptr::null(),
        }
    }

    fn version() -> ApiVersion {
        ApiVersion {
            struct_size: size_of::<ApiVersion>(),
            extension_start: null_mut(),
            major_version: 0,
            minor_version: 0,
        }
    }

    fn frame(api: *const Api, stage: c_int, rets: List) -> CallFrame {
        CallFrame {
            struct_size: size_of::<CallFrame>(),
            extension_start: null_mut(),
            api,
            ctx: null_mut(),
            stage,
            args: empty_list(),
            rets,
            attrs: empty_list(),
            future: null_mut(),
        }
    }

    fn fake_api() -> Api {
        Api {
            struct_size: size_of::<Api>(),
            extension_start: null_mut(),
            api_version: version(),
            internal_api: null_mut(),
            error_create: fake_error_create,
        }
    }

    /// A rank-1 buffer of `dims[0]` values of type `dtype` at `data`.
    fn buffer(dtype: c_int, data: *mut c_void, dims: &[i64; 1]) -> Buffer {
        Buffer {
            struct_size: size_of::<Buffer>(),
            extension_start: null_mut(),
            dtype,
            data,
            rank: 1,
            dims: dims.as_ptr(),
        }
    }

    /// A list of the one buffer that `items` points to.
    fn one_buffer(items: &[*mut c_void; 1]) -> List {
        List {
            struct_size: size_of::<List>(),
            extension_start: null_mut(),
            size: 1,
            types: BUFFER_TYPE.as_ptr(),
            items: items.as_ptr(),
        }
    }

    #[test]
    fn answers_the_metadata_query_without_counting() {
        let _guard = SERIAL.lock().unwrap();
        reset();
        let mut meta = Metadata {
            struct_size: size_of::<Metadata>(),
            api_version: version(),
            traits: 7,
        };
        let mut ext = MetadataExtension {
            extension_base: ExtensionBase {
                struct_size: size_of::<MetadataExtension>(),
                type_: EXTENSION_METADATA,
                next: null_mut(),
            },
            metadata: &mut meta,
        };
        let mut f = frame(std::ptr::null(), 0, empty_list());
        f.extension_start = &mut ext as *mut MetadataExtension as *mut ExtensionBase;
        // SAFETY: a well-formed frame built above.
        assert!(unsafe { xla_tick(&mut f) }.is_null());
        assert_eq!(
            (
                meta.api_version.major_version,
                meta.api_version.minor_version
            ),
            (0, 1)
        );
        assert_eq!(meta.traits, 0);
        assert_eq!(ticks(), 0);
    }

    #[test]
    fn counts_zeroes_its_result_and_cancels_after_a_stop() {
        let _guard = SERIAL.lock().unwrap();
        reset();
        let api = fake_api();
        let mut out = [7i32; 3];
        let dims = [3i64];
        let ret = buffer(DTYPE_S32, out.as_mut_ptr() as *mut c_void, &dims);
        let items = [&ret as *const Buffer as *mut c_void];
        let rets = one_buffer(&items);
        let mut f = frame(&api, STAGE_EXECUTE, rets);
        // SAFETY: a well-formed frame built above.
        assert!(unsafe { xla_tick(&mut f) }.is_null());
        assert_eq!(out, [0, 0, 0]);
        // Instantiation and the other stages before execution do not count.
        f.stage = 0;
        // SAFETY: as above.
        assert!(unsafe { xla_tick(&mut f) }.is_null());
        assert_eq!(ticks(), 1);
        f.stage = STAGE_EXECUTE;
        request_stop();
        // SAFETY: as above.
        assert!(!unsafe { xla_tick(&mut f) }.is_null());
        // SAFETY: written by the fake above, read after the call returned.
        assert_eq!(unsafe { LAST_ERRC }, ERROR_CANCELLED);
        assert_eq!(ticks(), 2);
        reset();
        assert_eq!(ticks(), 0);
        // SAFETY: as above.
        assert!(unsafe { xla_tick(&mut f) }.is_null());
    }

    #[test]
    fn advance_adds_the_sum_of_its_int32_counts() {
        let _guard = SERIAL.lock().unwrap();
        reset();
        let api = fake_api();
        let mut counts = [1i32, 1, 0, 2];
        let mut floats = [1.0f32, 1.0];
        let (dims4, dims2) = ([4i64], [2i64]);
        let ints = buffer(DTYPE_S32, counts.as_mut_ptr() as *mut c_void, &dims4);
        let other = buffer(11, floats.as_mut_ptr() as *mut c_void, &dims2);
        let mut out = [5i32; 4];
        let ret = buffer(DTYPE_S32, out.as_mut_ptr() as *mut c_void, &dims4);
        let (int_items, float_items, ret_items) = (
            [&ints as *const Buffer as *mut c_void],
            [&other as *const Buffer as *mut c_void],
            [&ret as *const Buffer as *mut c_void],
        );
        let mut f = frame(&api, STAGE_EXECUTE, one_buffer(&ret_items));
        f.args = one_buffer(&int_items);
        // SAFETY: a well-formed frame built above.
        assert!(unsafe { xla_advance(&mut f) }.is_null());
        assert_eq!((steps(), ticks(), out), (4, 0, [0; 4]));
        // A buffer that is not int32 counts nothing; neither does a call without arguments.
        f.args = one_buffer(&float_items);
        // SAFETY: as above.
        assert!(unsafe { xla_advance(&mut f) }.is_null());
        f.args = empty_list();
        // SAFETY: as above.
        assert!(unsafe { xla_advance(&mut f) }.is_null());
        assert_eq!(steps(), 4);
        request_stop();
        f.args = one_buffer(&int_items);
        // SAFETY: as above.
        assert!(!unsafe { xla_advance(&mut f) }.is_null());
        assert_eq!(steps(), 8);
        reset();
        assert_eq!(steps(), 0);
    }
}
