/*
 * vvau_rtl_weight_rom: the weight stream of a VVAU in mem_mode "internal_embedded".
 *
 * Why: finn-plus embeds weights of its HLS VVAU in the C++ (params.h); an RTL VVAU has to hold them
 * itself. This streams the DEPTH words of INIT_FILE (memblock.dat, FINN's VVAU_rtl weight layout,
 * the one the memstream reads in "internal_decoupled" mode) cyclically as an AXI stream, one word per
 * cycle. The read is synchronous with enable so that Vivado infers block RAM or LUTs (RAM_STYLE).
 */
module vvau_rtl_weight_rom #(
	int unsigned  DEPTH,
	int unsigned  WIDTH,
	parameter     INIT_FILE = "",
	/* verilator lint_off UNUSEDPARAM */  // a synthesis attribute, which Verilator ignores
	parameter     RAM_STYLE = "auto"
	/* verilator lint_on UNUSEDPARAM */
)(
	input	logic  clk,
	input	logic  rst,

	output	logic [WIDTH-1:0]  m_tdata,
	output	logic  m_tvalid,
	input	logic  m_tready
);

	localparam int unsigned  AW = DEPTH > 1 ? $clog2(DEPTH) : 1;

	(* rom_style = RAM_STYLE, ram_style = RAM_STYLE *)
	logic [WIDTH-1:0]  Mem[DEPTH];
	initial begin
		if(INIT_FILE != "")  $readmemh(INIT_FILE, Mem);
	end

	logic [AW-1:0]  Addr;
	logic  Vld;
	always_ff @(posedge clk) begin
		if(rst) begin
			Addr <= '0;
			Vld <= 0;
		end
		else if(!Vld || m_tready) begin
			Addr <= Addr == AW'(DEPTH-1) ? '0 : Addr + 1;
			Vld <= 1;
		end
	end
	always_ff @(posedge clk) begin
		if(!Vld || m_tready)  m_tdata <= Mem[Addr];
	end
	assign	m_tvalid = Vld;

endmodule : vvau_rtl_weight_rom
