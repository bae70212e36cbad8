/* Raw MPI_Allreduce of float32 buffers, the baseline of benches/dist.py.
   mpicc -O2 dist_allreduce.c -o allreduce; mpirun -np 2 ./allreduce SIZES_CSV REPEATS */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int repeats = atoi(argv[2]);
  double *times = malloc(sizeof(double) * repeats);
  char *sizes = strdup(argv[1]);
  if (rank == 0) printf("{");
  int first = 1;
  for (char *tok = strtok(sizes, ","); tok; tok = strtok(NULL, ",")) {
    long bytes = atol(tok), n = bytes / 4 > 0 ? bytes / 4 : 1;
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    /* Real values, as the kvstore workers push (untouched calloc memory reads as the shared
       zero page, which would stay in cache and flatter the baseline). */
    for (long i = 0; i < n; i++) in[i] = 1.0f, out[i] = 0.0f;
    for (int w = 0; w < 2; w++) MPI_Allreduce(in, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (int r = 0; r < repeats; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(in, out, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      times[r] = MPI_Wtime() - t0;
    }
    qsort(times, repeats, sizeof(double), cmp);
    if (rank == 0) printf("%s\"%ld\": %.9f", first ? "" : ", ", bytes, times[repeats / 2]);
    first = 0;
    free(in);
    free(out);
  }
  if (rank == 0) printf("}\n");
  free(times);
  free(sizes);
  MPI_Finalize();
  return 0;
}
