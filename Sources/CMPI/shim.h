// CMPI: Open MPI's C API for Swift. Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT,
// MPI_SUM, MPI_IN_PLACE, ...) are macros over addresses of incomplete structs that
// Swift cannot import, so this header re-exports them through static inline getters.
#ifndef REIDPRUNE_CMPI_SHIM_H
#define REIDPRUNE_CMPI_SHIM_H
#include <mpi.h>

static inline MPI_Comm reidprune_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm reidprune_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype reidprune_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype reidprune_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype reidprune_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype reidprune_mpi_int(void) { return MPI_INT; }
static inline MPI_Datatype reidprune_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype reidprune_mpi_uint64(void) { return MPI_UINT64_T; }
static inline MPI_Datatype reidprune_mpi_uint16(void) { return MPI_UINT16_T; }
static inline MPI_Op reidprune_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op reidprune_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op reidprune_mpi_min(void) { return MPI_MIN; }
static inline void *reidprune_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *reidprune_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Request reidprune_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Errhandler reidprune_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Info reidprune_mpi_info_null(void) { return MPI_INFO_NULL; }
static inline int reidprune_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline int reidprune_mpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int reidprune_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int reidprune_mpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int reidprune_mpi_success(void) { return MPI_SUCCESS; }
static inline int reidprune_mpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int reidprune_mpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int reidprune_mpi_status_source(const MPI_Status *status) { return status->MPI_SOURCE; }

#endif
